//! A session's subscriptions by filter: its options and identifier for each.
//!
//! Every connected client has some, most only one to three, and an idle
//! client keeps them for as long as it stays connected. As a map of boxed
//! strings they cost a slice of 24-byte entries plus one allocation per
//! filter (glibc's smallest chunk is 32 bytes, whatever the filter's length):
//! 128 bytes of chunks for two short filters. Packed, the same two take one
//! 48-byte chunk. Up to [`FEW`] subscriptions are packed into one exactly
//! sized allocation; more go to a hash map, so that a client with thousands
//! of filters (a bridge, a dashboard) is not rewritten on each change.

use std::{collections::HashMap, num::NonZeroU32};

use mqtt::{QoS, RetainHandling, SubscriptionOptions};

/// Up to this many subscriptions are packed.
const FEW: usize = 8;

/// What a session keeps of one subscription besides its filter.
pub(crate) type Kept = (SubscriptionOptions, Option<NonZeroU32>);

/// A packed entry's bytes before its filter: the filter's length (u16, a
/// filter is at most 65,535 bytes), the options byte and the identifier
/// (u32, 0 for none), little-endian.
const HEAD: usize = 2 + 1 + 4;

/// A session's subscriptions, each filter once.
#[derive(Debug, Clone)]
pub(crate) enum Filters {
    /// Entries back to back, each [`HEAD`] then the filter's bytes.
    Packed(Box<[u8]>),
    // Boxed: a map inline is 48 bytes, and every session would carry them.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<Box<str>, Kept>>),
}

impl Default for Filters {
    fn default() -> Self {
        Filters::Packed(Box::default())
    }
}

impl Filters {
    pub(crate) fn len(&self) -> usize {
        match self {
            Filters::Packed(bytes) => packed(bytes).count(),
            Filters::Many(map) => map.len(),
        }
    }

    /// Every subscription, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Kept)> {
        let (bytes, map) = match self {
            Filters::Packed(bytes) => (Some(bytes), None),
            Filters::Many(map) => (None, Some(map)),
        };
        let packed = bytes.into_iter().flat_map(|bytes| packed(bytes));
        let many = map
            .into_iter()
            .flat_map(|map| map.iter().map(|(filter, kept)| (&**filter, *kept)));
        packed.chain(many)
    }

    /// Subscribe `filter` (or replace its subscription); the one replaced.
    pub(crate) fn insert(&mut self, filter: &str, kept: Kept) -> Option<Kept> {
        let bytes = match self {
            Filters::Many(map) => return map.insert(filter.into(), kept),
            Filters::Packed(bytes) => bytes,
        };
        if let Some((start, _, old)) = find(bytes, filter) {
            // Same filter, same length: only its options and id change.
            write_head(&mut bytes[start..start + HEAD], filter, kept);
            return Some(old);
        }
        if packed(bytes).count() >= FEW || filter.len() > usize::from(u16::MAX) {
            let mut map: HashMap<Box<str>, Kept> =
                packed(bytes).map(|(f, k)| (f.into(), k)).collect();
            map.insert(filter.into(), kept);
            *self = Filters::Many(Box::new(map));
            return None;
        }
        let mut grown = Vec::with_capacity(bytes.len() + HEAD + filter.len());
        grown.extend_from_slice(bytes);
        let at = grown.len();
        grown.resize(at + HEAD, 0);
        write_head(&mut grown[at..], filter, kept);
        grown.extend_from_slice(filter.as_bytes());
        *bytes = grown.into_boxed_slice();
        None
    }

    /// Unsubscribe `filter`; its subscription, if it had one.
    pub(crate) fn remove(&mut self, filter: &str) -> Option<Kept> {
        match self {
            Filters::Many(map) => map.remove(filter),
            Filters::Packed(bytes) => {
                let (start, end, kept) = find(bytes, filter)?;
                let mut shrunk = Vec::with_capacity(bytes.len() - (end - start));
                shrunk.extend_from_slice(&bytes[..start]);
                shrunk.extend_from_slice(&bytes[end..]);
                *bytes = shrunk.into_boxed_slice();
                Some(kept)
            }
        }
    }
}

/// Where `filter`'s entry is in a packed buffer (from its head to the end
/// of its filter), and what it keeps.
fn find(bytes: &[u8], filter: &str) -> Option<(usize, usize, Kept)> {
    let mut start = 0;
    for (found, kept) in packed(bytes) {
        let end = start + HEAD + found.len();
        if found == filter {
            return Some((start, end, kept));
        }
        start = end;
    }
    None
}

/// Write an entry's head: `filter`'s length, the options byte, the id.
fn write_head(head: &mut [u8], filter: &str, (options, id): Kept) {
    let len = u16::try_from(filter.len()).expect("checked by the caller");
    head[..2].copy_from_slice(&len.to_le_bytes());
    head[2] = options_byte(&options);
    head[3..HEAD].copy_from_slice(&id.map_or(0, NonZeroU32::get).to_le_bytes());
}

/// The entries of a packed buffer.
fn packed(mut bytes: &[u8]) -> impl Iterator<Item = (&str, Kept)> {
    std::iter::from_fn(move || {
        let (head, rest) = bytes.split_first_chunk::<HEAD>()?;
        let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
        let options = options_from(head[2]);
        let id = NonZeroU32::new(u32::from_le_bytes([head[3], head[4], head[5], head[6]]));
        let (filter, rest) = rest.split_at(len);
        bytes = rest;
        // Only `push` writes these buffers, from a `&str`.
        let filter = std::str::from_utf8(filter).expect("a filter is UTF-8");
        Some((filter, (options, id)))
    })
}

/// Subscription options in one byte, as in an MQTT 5 SUBSCRIBE: QoS in bits
/// 0-1, no local in bit 2, retain as published in bit 3, retain handling in
/// bits 4-5. (The store writes the same byte.)
pub(crate) fn options_byte(o: &SubscriptionOptions) -> u8 {
    (o.qos as u8)
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

/// The options [`options_byte`] wrote.
pub(crate) fn options_from(byte: u8) -> SubscriptionOptions {
    SubscriptionOptions {
        qos: QoS::from_u8(byte & 3).unwrap_or(QoS::AtMostOnce),
        no_local: byte & 4 != 0,
        retain_as_published: byte & 8 != 0,
        retain_handling: match (byte >> 4) & 3 {
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => RetainHandling::SendAtSubscribe,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kept(byte: u8, id: u32) -> Kept {
        (options_from(byte), NonZeroU32::new(id))
    }

    #[test]
    fn two_short_filters_take_one_allocation_of_their_bytes() {
        let mut filters = Filters::default();
        filters.insert("dev/1234", kept(1, 0));
        filters.insert("shared/all", kept(0x2e, 7));
        let Filters::Packed(bytes) = &filters else {
            panic!("two subscriptions are packed")
        };
        assert_eq!(
            bytes.len(),
            2 * HEAD + "dev/1234".len() + "shared/all".len()
        );
        let mut all: Vec<_> = filters.iter().collect();
        all.sort_by_key(|(f, _)| *f);
        assert_eq!(
            all,
            [("dev/1234", kept(1, 0)), ("shared/all", kept(0x2e, 7))]
        );
    }

    #[test]
    fn every_options_byte_a_subscribe_may_carry_comes_back() {
        for qos in 0..3u8 {
            for flags in 0..4u8 {
                for handling in 0..3u8 {
                    let byte = qos | flags << 2 | handling << 4;
                    assert_eq!(options_byte(&options_from(byte)), byte);
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Change {
        Insert(String, u8, u32),
        Remove(String),
    }

    fn change() -> impl Strategy<Value = Change> {
        // Few distinct filters, so that replacing and removing happen often;
        // an empty one and a long one among them.
        let filter = prop_oneof![
            "[a-c/+#]{0,3}",
            Just(String::new()),
            Just("x".repeat(300)),
            Just("ü/𝄞/ü".to_string()),
        ];
        let byte = (0..3u8, 0..4u8, 0..3u8).prop_map(|(q, f, h)| q | f << 2 | h << 4);
        prop_oneof![
            (filter.clone(), byte, any::<u32>()).prop_map(|(f, b, id)| Change::Insert(f, b, id)),
            filter.prop_map(Change::Remove),
        ]
    }

    proptest! {
        /// Packed or not, it answers as a hash map does.
        #[test]
        fn filters_behave_as_a_map(changes in prop::collection::vec(change(), 0..60)) {
            let mut filters = Filters::default();
            let mut model: HashMap<String, Kept> = HashMap::new();
            for change in changes {
                match change {
                    Change::Insert(filter, byte, id) => {
                        let k = kept(byte, id);
                        prop_assert_eq!(filters.insert(&filter, k), model.insert(filter, k));
                    }
                    Change::Remove(filter) => {
                        prop_assert_eq!(filters.remove(&filter), model.remove(&filter));
                    }
                }
                prop_assert_eq!(filters.len(), model.len());
                let mut got: Vec<(String, Kept)> =
                    filters.iter().map(|(f, k)| (f.to_string(), k)).collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let mut want: Vec<(String, Kept)> = model.clone().into_iter().collect();
                want.sort_by(|a, b| a.0.cmp(&b.0));
                prop_assert_eq!(got, want);
            }
        }
    }
}
