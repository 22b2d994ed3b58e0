//! Variable byte integer (spec §1.5.5 / §2.2.3): 7 bits per byte, low
//! group first, high bit = "more bytes follow", at most 4 bytes. Used for the
//! remaining length, property lengths and subscription identifiers.

use bytes::{BufMut, BytesMut};

use crate::error::DecodeError;
use crate::protocol::MAX_REMAINING_LENGTH;

/// Decodes a variable byte integer from the front of `buf`.
///
/// Returns `Ok(Some((value, bytes_used)))`, or `Ok(None)` when `buf` ends
/// before the last byte. A 4th byte that still has its continuation bit, or a
/// value not encoded in the fewest bytes (MQTT-1.5.5-1), is an error.
pub(crate) fn decode(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of 0 after others means a shorter form existed.
            if i > 0 && byte == 0 {
                return Err(DecodeError::MalformedRemainingLength);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::MalformedRemainingLength)
    } else {
        Ok(None)
    }
}

/// Number of bytes `value` takes on the wire. Values above the maximum are
/// reported as 4 bytes (they cannot be encoded; the encoder refuses them).
pub(crate) fn len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Appends `value`, which must be at most `MAX_REMAINING_LENGTH` (callers
/// check first, so this only asserts in debug builds).
pub(crate) fn write(value: usize, out: &mut BytesMut) {
    debug_assert!(value <= MAX_REMAINING_LENGTH);
    let mut value = value;
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Boundary values from the spec's table (§1.5.5).
    const CASES: &[(u32, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];

    #[test]
    fn spec_boundaries_round_trip() {
        for &(value, bytes) in CASES {
            assert_eq!(decode(bytes), Ok(Some((value, bytes.len()))), "{value}");
            assert_eq!(len(value as usize), bytes.len(), "{value}");
            let mut out = BytesMut::new();
            write(value as usize, &mut out);
            assert_eq!(&out[..], bytes, "{value}");
        }
    }

    #[test]
    fn needs_more_bytes() {
        assert_eq!(decode(&[]), Ok(None));
        assert_eq!(decode(&[0x80]), Ok(None));
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF]), Ok(None));
    }

    #[test]
    fn fifth_byte_is_malformed() {
        // Four continuation bits: a 5th byte would be needed.
        let err = Err(DecodeError::MalformedRemainingLength);
        assert_eq!(decode(&[0xFF, 0xFF, 0xFF, 0xFF]), err);
        assert_eq!(decode(&[0x80, 0x80, 0x80, 0x80, 0x01]), err);
    }

    #[test]
    fn non_minimal_is_malformed() {
        let err = Err(DecodeError::MalformedRemainingLength);
        assert_eq!(decode(&[0x80, 0x00]), err);
        assert_eq!(decode(&[0xFF, 0x80, 0x00]), err);
    }

    #[test]
    fn trailing_input_is_ignored() {
        assert_eq!(decode(&[0x05, 0xFF, 0xFF]), Ok(Some((5, 1))));
    }
}
