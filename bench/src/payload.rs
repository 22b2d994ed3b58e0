//! The benchmark payload: every message says who sent it, its place in that
//! sender's stream, when it was sent, and a checksum over all of it, so each
//! arrival is checked exactly (see [`crate::check`]).
//!
//! Layout, little-endian, 16 bytes of header then filler up to the size:
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | publisher id (`u16`) |
//! | 2..6 | sequence number within that publisher's stream (`u32`, from 0) |
//! | 6..12 | send time, µs since the run's epoch (`u48`) |
//! | 12..16 | checksum: low 32 bits of XXH3 over bytes 0..12 and 16.. |
//!
//! The filler is pseudo-random bytes fixed per publisher; the checksum covers
//! it, so a flipped, truncated or swapped byte anywhere is caught.

use bytes::{BufMut, Bytes, BytesMut};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Header bytes; also the smallest payload.
pub const HEADER: usize = 16;

/// What a payload says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub publisher: u16,
    pub seq: u32,
    pub sent_us: u64,
}

/// Why a payload is not one we sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corrupt {
    TooShort(usize),
    Checksum,
}

fn checksum(bytes: &[u8]) -> u32 {
    let seed = xxh3_64(&bytes[..12]);
    (xxh3_64_with_seed(&bytes[HEADER..], seed) & 0xffff_ffff) as u32
}

/// Builds the payloads of one publisher.
#[derive(Clone, Debug)]
pub struct PayloadWriter {
    publisher: u16,
    filler: Vec<u8>,
}

impl PayloadWriter {
    /// `size` is clamped up to [`HEADER`].
    pub fn new(publisher: u16, size: usize) -> PayloadWriter {
        let len = size.max(HEADER) - HEADER;
        // xorshift, seeded by the publisher: different filler per publisher.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (u64::from(publisher) << 17 | 1);
        let filler = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        PayloadWriter { publisher, filler }
    }

    pub fn size(&self) -> usize {
        HEADER + self.filler.len()
    }

    /// The payload for message `seq` sent at `sent_us`.
    pub fn build(&self, seq: u32, sent_us: u64) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.size());
        buf.put_u16_le(self.publisher);
        buf.put_u32_le(seq);
        buf.put_slice(&sent_us.to_le_bytes()[..6]);
        buf.put_u32_le(0);
        buf.put_slice(&self.filler);
        let sum = checksum(&buf);
        buf[12..16].copy_from_slice(&sum.to_le_bytes());
        buf.freeze()
    }
}

/// Check a payload and read its header.
pub fn verify(bytes: &[u8]) -> Result<Stamp, Corrupt> {
    if bytes.len() < HEADER {
        return Err(Corrupt::TooShort(bytes.len()));
    }
    let stored = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    if checksum(bytes) != stored {
        return Err(Corrupt::Checksum);
    }
    let mut time = [0u8; 8];
    time[..6].copy_from_slice(&bytes[6..12]);
    Ok(Stamp {
        publisher: u16::from_le_bytes([bytes[0], bytes[1]]),
        seq: u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]),
        sent_us: u64::from_le_bytes(time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_at_every_size() {
        for size in [0, 1, 16, 17, 64, 1024, 65536] {
            let writer = PayloadWriter::new(7, size);
            let payload = writer.build(42, 123_456_789);
            assert_eq!(payload.len(), size.max(HEADER));
            let stamp = verify(&payload).unwrap();
            assert_eq!(
                stamp,
                Stamp {
                    publisher: 7,
                    seq: 42,
                    sent_us: 123_456_789
                }
            );
        }
    }

    #[test]
    fn any_flipped_byte_is_caught() {
        let payload = PayloadWriter::new(3, 64).build(9, 1000).to_vec();
        for i in 0..payload.len() {
            let mut bad = payload.clone();
            bad[i] ^= 0x40;
            assert_eq!(verify(&bad), Err(Corrupt::Checksum), "byte {i}");
        }
        assert_eq!(verify(&payload[..10]), Err(Corrupt::TooShort(10)));
        assert_eq!(verify(&payload[..63]), Err(Corrupt::Checksum));
    }

    #[test]
    fn publishers_have_different_filler() {
        let a = PayloadWriter::new(1, 64).build(0, 0);
        let b = PayloadWriter::new(2, 64).build(0, 0);
        assert_ne!(a[HEADER..], b[HEADER..]);
    }
}
