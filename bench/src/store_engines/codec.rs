//! The bytes of appended entries and acknowledgements in the engines that
//! write records of many entries (`redb_rounds`, `segment_log`).
//!
//! Appends: `u32` message count, then per message `seq: u64`, payload
//! ([`PAYLOAD`] bytes, once however many sessions), `u32` session count and
//! per session its client id (`u8` length, bytes) and delivery record
//! ([`DELIVERY`] bytes). Acknowledgements: `u32` count, then per entry its
//! client id (`u8` length, bytes) and `seq: u64`. Little-endian throughout.

use super::{
    workload::{
        client_id, client_number, delivery, payload, EntryKey, NewMessage, DELIVERY, PAYLOAD,
    },
    EngineError,
};

/// Append `messages` (every session's entry) to `out`.
pub fn encode_appends(messages: &[NewMessage], out: &mut Vec<u8>) {
    out.extend_from_slice(&(messages.len() as u32).to_le_bytes());
    for message in messages {
        out.extend_from_slice(&message.seq.to_le_bytes());
        out.extend_from_slice(&payload(message.seq));
        out.extend_from_slice(&message.sessions.to_le_bytes());
        for key in message.entries() {
            put_client(key.client, out);
            out.extend_from_slice(&delivery(key));
        }
    }
}

/// Append the acknowledged `acks` to `out`.
pub fn encode_acks(acks: &[EntryKey], out: &mut Vec<u8>) {
    out.extend_from_slice(&(acks.len() as u32).to_le_bytes());
    for key in acks {
        put_client(key.client, out);
        out.extend_from_slice(&key.seq.to_le_bytes());
    }
}

/// One message of an appends block as read back, its bytes borrowed: what
/// compaction copies of an old record's surviving entries.
#[derive(Debug)]
pub struct Stored<'a> {
    pub seq: u64,
    pub payload: &'a [u8],
    /// Each entry's client and delivery record.
    pub entries: Vec<(u32, &'a [u8])>,
}

/// Append `messages` as an appends block (as [`encode_appends`] does).
pub fn encode_stored(messages: &[Stored], out: &mut Vec<u8>) {
    out.extend_from_slice(&(messages.len() as u32).to_le_bytes());
    for message in messages {
        out.extend_from_slice(&message.seq.to_le_bytes());
        out.extend_from_slice(message.payload);
        out.extend_from_slice(&(message.entries.len() as u32).to_le_bytes());
        for (client, delivery) in &message.entries {
            put_client(*client, out);
            out.extend_from_slice(delivery);
        }
    }
}

fn put_client(client: u32, out: &mut Vec<u8>) {
    let id = client_id(client);
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
}

/// Reads what the encoders wrote, front to back.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EngineError> {
        if self.bytes.len() < n {
            return Err(EngineError::Corrupt(format!(
                "record ends {} bytes early",
                n - self.bytes.len()
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub fn u32(&mut self) -> Result<u32, EngineError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Result<u64, EngineError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn client(&mut self) -> Result<u32, EngineError> {
        let len = self.take(1)?[0] as usize;
        let id = std::str::from_utf8(self.take(len)?)
            .map_err(|e| EngineError::Corrupt(format!("client id: {e}")))?;
        client_number(id).ok_or_else(|| EngineError::Corrupt(format!("client id {id:?}")))
    }

    /// The entries of an [`encode_appends`] block.
    pub fn appends(&mut self) -> Result<Vec<EntryKey>, EngineError> {
        Ok(self
            .messages()?
            .iter()
            .flat_map(|m| {
                m.entries
                    .iter()
                    .map(|&(client, _)| EntryKey { client, seq: m.seq })
            })
            .collect())
    }

    /// The messages of an appends block, bytes and all.
    pub fn messages(&mut self) -> Result<Vec<Stored<'a>>, EngineError> {
        let count = self.u32()?;
        let mut messages = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let seq = self.u64()?;
            let payload = self.take(PAYLOAD)?;
            let sessions = self.u32()?;
            let mut entries = Vec::with_capacity(sessions.min(1 << 16) as usize);
            for _ in 0..sessions {
                let client = self.client()?;
                entries.push((client, self.take(DELIVERY)?));
            }
            messages.push(Stored {
                seq,
                payload,
                entries,
            });
        }
        Ok(messages)
    }

    /// Keep, of an appends block, the entries `keep` says are live.
    pub fn survivors(
        &mut self,
        keep: impl Fn(&EntryKey) -> bool,
    ) -> Result<Vec<Stored<'a>>, EngineError> {
        let mut messages = self.messages()?;
        for message in &mut messages {
            let seq = message.seq;
            message
                .entries
                .retain(|&(client, _)| keep(&EntryKey { client, seq }));
        }
        messages.retain(|m| !m.entries.is_empty());
        Ok(messages)
    }

    /// The entries of an [`encode_acks`] block.
    pub fn acks(&mut self) -> Result<Vec<EntryKey>, EngineError> {
        let count = self.u32()?;
        let mut acks = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let client = self.client()?;
            acks.push(EntryKey {
                client,
                seq: self.u64()?,
            });
        }
        Ok(acks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_acks_read_back() {
        let messages = [
            NewMessage {
                seq: 7,
                sessions: 1,
            },
            NewMessage {
                seq: 8,
                sessions: 3,
            },
        ];
        let acks = [EntryKey { client: 2, seq: 5 }];
        let mut bytes = Vec::new();
        encode_appends(&messages, &mut bytes);
        encode_acks(&acks, &mut bytes);
        let mut reader = Reader::new(&bytes);
        let entries = reader.appends().unwrap();
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[3], EntryKey { client: 2, seq: 8 });
        assert_eq!(reader.acks().unwrap(), acks);
        assert!(reader.rest().is_empty());
    }

    #[test]
    fn survivors_are_copied_with_their_bytes() {
        let mut bytes = Vec::new();
        encode_appends(
            &[NewMessage {
                seq: 4,
                sessions: 3,
            }],
            &mut bytes,
        );
        let kept = Reader::new(&bytes)
            .survivors(|key| key.client == 1)
            .unwrap();
        let mut copy = Vec::new();
        encode_stored(&kept, &mut copy);
        let again = Reader::new(&copy).messages().unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].payload, payload(4));
        assert_eq!(
            again[0].entries,
            vec![(1, &delivery(EntryKey { client: 1, seq: 4 })[..])]
        );
    }

    #[test]
    fn a_cut_record_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode_appends(
            &[NewMessage {
                seq: 1,
                sessions: 2,
            }],
            &mut bytes,
        );
        for len in 0..bytes.len() {
            assert!(Reader::new(&bytes[..len]).appends().is_err(), "{len}");
        }
    }
}
