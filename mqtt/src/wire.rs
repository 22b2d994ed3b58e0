//! Data representations of spec §1.5: integers, UTF-8 strings, binary data
//! and variable byte integers, read from the front of a packet body (`Bytes`)
//! and written to a `BytesMut`.
//!
//! Readers never copy: strings and binary data are slices of the packet
//! buffer, which is itself a slice of the connection's read buffer. Any field
//! that runs past the end of the body is `DecodeError::Truncated`, because the
//! body is already exactly one packet (the remaining length said so).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::protocol::MAX_FIELD_LEN;
use crate::varint;

pub(crate) fn read_u8(buf: &mut Bytes) -> Result<u8, DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::Truncated);
    }
    Ok(buf.get_u8())
}

pub(crate) fn read_u16(buf: &mut Bytes) -> Result<u16, DecodeError> {
    if buf.len() < 2 {
        return Err(DecodeError::Truncated);
    }
    Ok(buf.get_u16())
}

pub(crate) fn read_u32(buf: &mut Bytes) -> Result<u32, DecodeError> {
    if buf.len() < 4 {
        return Err(DecodeError::Truncated);
    }
    Ok(buf.get_u32())
}

/// A variable byte integer inside a packet (not the remaining length).
pub(crate) fn read_varint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    match varint::decode(buf) {
        Ok(Some((value, used))) => {
            buf.advance(used);
            Ok(value)
        }
        Ok(None) => Err(DecodeError::Truncated),
        Err(_) => Err(DecodeError::MalformedVariableByteInteger),
    }
}

/// The next `len` bytes, sliced off without copying.
pub(crate) fn take(buf: &mut Bytes, len: usize) -> Result<Bytes, DecodeError> {
    if buf.len() < len {
        return Err(DecodeError::Truncated);
    }
    Ok(buf.split_to(len))
}

/// Binary data: a u16 length and that many bytes.
pub(crate) fn read_binary(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = read_u16(buf)?;
    take(buf, usize::from(len))
}

/// A UTF-8 encoded string: valid UTF-8 (so no surrogates) and no U+0000
/// (MQTT-1.5.4-1, MQTT-1.5.4-2).
pub(crate) fn read_string(buf: &mut Bytes) -> Result<ByteString, DecodeError> {
    let raw = read_binary(buf)?;
    if raw.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8)
}

/// Fails with `TrailingBytes` unless the body has been read to its end.
pub(crate) fn finish(buf: &Bytes) -> Result<(), DecodeError> {
    if buf.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes)
    }
}

/// Wire size of a string or binary field.
pub(crate) fn field_len(value: &[u8]) -> usize {
    2 + value.len()
}

/// Writes a string or binary field: u16 length then the bytes.
pub(crate) fn write_field(value: &[u8], out: &mut BytesMut) -> Result<(), EncodeError> {
    if value.len() > MAX_FIELD_LEN {
        return Err(EncodeError::StringTooLong { len: value.len() });
    }
    out.put_u16(value.len() as u16);
    out.put_slice(value);
    Ok(())
}

/// Writes a UTF-8 string field. `&str` is valid UTF-8 already; U+0000 is
/// refused because the peer would reject the packet.
pub(crate) fn write_string(value: &str, out: &mut BytesMut) -> Result<(), EncodeError> {
    if value.as_bytes().contains(&0) {
        return Err(EncodeError::InvalidValue("U+0000 in a string"));
    }
    write_field(value.as_bytes(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_is_a_slice_of_the_input() {
        let mut buf = Bytes::from_static(&[0x00, 0x03, b'a', b'/', b'b', 0xAA]);
        let start = buf.as_ptr();
        let s = read_string(&mut buf).unwrap();
        assert_eq!(s, "a/b");
        // Zero-copy: the string points into the original buffer.
        assert_eq!(s.as_bytes().as_ptr(), unsafe { start.add(2) });
        assert_eq!(&buf[..], &[0xAA]);
    }

    #[test]
    fn string_rejects_null_and_bad_utf8() {
        let mut nul = Bytes::from_static(&[0x00, 0x02, b'a', 0x00]);
        assert_eq!(read_string(&mut nul), Err(DecodeError::NullCharacter));
        // U+D800 (a surrogate) encoded as if it were a scalar value.
        let mut surrogate = Bytes::from_static(&[0x00, 0x03, 0xED, 0xA0, 0x80]);
        assert_eq!(read_string(&mut surrogate), Err(DecodeError::InvalidUtf8));
        let mut invalid = Bytes::from_static(&[0x00, 0x01, 0xFF]);
        assert_eq!(read_string(&mut invalid), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn fields_past_the_end_are_truncated() {
        let mut buf = Bytes::from_static(&[0x00, 0x05, b'a']);
        assert_eq!(read_string(&mut buf), Err(DecodeError::Truncated));
        assert_eq!(
            read_u16(&mut Bytes::from_static(&[1])),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            read_u32(&mut Bytes::from_static(&[1, 2, 3])),
            Err(DecodeError::Truncated)
        );
        assert_eq!(read_u8(&mut Bytes::new()), Err(DecodeError::Truncated));
        assert_eq!(
            read_varint(&mut Bytes::from_static(&[0x80])),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            read_varint(&mut Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x01])),
            Err(DecodeError::MalformedVariableByteInteger)
        );
    }

    #[test]
    fn integers_are_big_endian() {
        let mut buf = Bytes::from_static(&[0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0x7F]);
        assert_eq!(read_u16(&mut buf), Ok(0x1234));
        assert_eq!(read_u32(&mut buf), Ok(0x0102_0304));
        assert_eq!(read_varint(&mut buf), Ok(127));
        assert_eq!(finish(&buf), Ok(()));
    }

    #[test]
    fn write_refuses_long_fields_and_null() {
        let mut out = BytesMut::new();
        let long = vec![b'a'; MAX_FIELD_LEN + 1];
        assert_eq!(
            write_field(&long, &mut out),
            Err(EncodeError::StringTooLong {
                len: MAX_FIELD_LEN + 1
            })
        );
        assert!(write_string("a\0", &mut out).is_err());
        write_field(&long[..MAX_FIELD_LEN], &mut out).unwrap();
        assert_eq!(out.len(), field_len(&long[..MAX_FIELD_LEN]));
        assert_eq!(&out[..2], &[0xFF, 0xFF]);
    }
}
