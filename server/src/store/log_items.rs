//! The byte form of the queue log's values (`log`): a version byte, then
//! items one after another. See `log` for what they mean.

use bytes::{BufMut, BytesMut};

use super::RecordError;

/// The first byte of a `log` or `dead` value.
pub(super) const VERSION: u8 = 1;
/// An item: a session's queue entry (`records::encode_queued` or
/// `records::encode_delivery`).
pub(super) const ENTRY: u8 = 1;
/// An item: a message queued for several sessions (`records::encode_retained`).
pub(super) const MESSAGE: u8 = 2;
/// An item: a new state of a session's entry written earlier
/// (`records::encode_state`), so a delivery does not write its message again.
pub(super) const STATE: u8 = 3;

/// One item of a log record, borrowed from the record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Item<'a> {
    Entry {
        client: &'a str,
        seq: u64,
        record: &'a [u8],
    },
    Message {
        seq: u64,
        body: &'a [u8],
    },
    State {
        client: &'a str,
        seq: u64,
        record: &'a [u8],
    },
}

impl Item<'_> {
    /// `[ENTRY or STATE][client: u16 length, bytes][seq: u64][record: u32
    /// length, bytes]` or `[MESSAGE][seq: u64][body: u32 length, bytes]`,
    /// big-endian.
    pub(super) fn put(&self, out: &mut impl BufMut) {
        match self {
            Item::Entry {
                client,
                seq,
                record,
            }
            | Item::State {
                client,
                seq,
                record,
            } => {
                let kind = if matches!(self, Item::Entry { .. }) {
                    ENTRY
                } else {
                    STATE
                };
                put_keyed(out, kind, client, *seq);
                out.put_u32(record.len() as u32);
                out.put_slice(record);
            }
            Item::Message { seq, body } => {
                out.put_u8(MESSAGE);
                out.put_u64(*seq);
                out.put_u32(body.len() as u32);
                out.put_slice(body);
            }
        }
    }
}

/// An entry's or state's head: kind, client id, seq.
pub(super) fn put_keyed(out: &mut impl BufMut, kind: u8, client: &str, seq: u64) {
    out.put_u8(kind);
    out.put_u16(client.len() as u16);
    out.put_slice(client.as_bytes());
    out.put_u64(seq);
}

/// Append a length-prefixed field that `write` appends to `out`, its
/// length written in front once known (no copy through a buffer).
pub(super) fn put_written(out: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let at = out.len();
    out.put_u32(0);
    write(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// The items of a `log` value, in order.
pub(super) fn parse(data: &[u8]) -> Result<Vec<Item<'_>>, RecordError> {
    fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], RecordError> {
        if data.len() < n {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = data.split_at(n);
        *data = rest;
        Ok(head)
    }
    fn number<const N: usize>(data: &mut &[u8]) -> Result<[u8; N], RecordError> {
        Ok(take(data, N)?.try_into().expect("N bytes"))
    }
    let mut data = data;
    match number::<1>(&mut data)?[0] {
        VERSION => {}
        newer => return Err(RecordError::NewerVersion(newer)),
    }
    let mut items = Vec::new();
    while !data.is_empty() {
        let kind = number::<1>(&mut data)?[0];
        let item = match kind {
            ENTRY | STATE => {
                let len = u16::from_be_bytes(number(&mut data)?) as usize;
                let client = std::str::from_utf8(take(&mut data, len)?)
                    .map_err(|_| RecordError::Message("a client id is not UTF-8".into()))?;
                let seq = u64::from_be_bytes(number(&mut data)?);
                let len = u32::from_be_bytes(number(&mut data)?) as usize;
                let record = take(&mut data, len)?;
                if kind == ENTRY {
                    Item::Entry {
                        client,
                        seq,
                        record,
                    }
                } else {
                    Item::State {
                        client,
                        seq,
                        record,
                    }
                }
            }
            MESSAGE => {
                let seq = u64::from_be_bytes(number(&mut data)?);
                let len = u32::from_be_bytes(number(&mut data)?) as usize;
                Item::Message {
                    seq,
                    body: take(&mut data, len)?,
                }
            }
            other => return Err(RecordError::Message(format!("unknown log item {other}"))),
        };
        items.push(item);
    }
    Ok(items)
}

/// A `log` value holding `items`.
pub(super) fn record_of(items: &[Item<'_>]) -> Vec<u8> {
    let mut value = vec![VERSION];
    for item in items {
        item.put(&mut value);
    }
    value
}
