//! The bounded log of recently received messages, newest first.

use std::collections::VecDeque;

/// How many messages the live list keeps by default.
pub const DEFAULT_CAPACITY: usize = 200;

/// Payloads longer than this many bytes are cut for display.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// One received message as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// Unique within one [`MessageLog`]; increases with each message. A stable
    /// key for list rendering.
    pub id: u64,
    pub topic: String,
    /// The payload as text: invalid UTF-8 replaced, cut at
    /// [`MAX_PAYLOAD_BYTES`] (then ending in `…`).
    pub payload: String,
    /// The payload's real length in bytes.
    pub payload_len: usize,
    pub retained: bool,
    pub qos: u8,
    /// When it was received, milliseconds since the Unix epoch.
    pub received_ms: u64,
    /// When it was received, as shown (local `HH:MM:SS`).
    pub time: String,
}

impl MessageRecord {
    pub fn truncated(&self) -> bool {
        self.payload_len > MAX_PAYLOAD_BYTES
    }
}

/// A ring buffer of the most recent messages: pushing beyond the capacity
/// drops the oldest. Iterates newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLog {
    entries: VecDeque<MessageRecord>,
    capacity: usize,
    /// Messages ever pushed, including those since dropped.
    total: u64,
}

impl MessageLog {
    pub fn new(capacity: usize) -> MessageLog {
        let capacity = capacity.max(1);
        MessageLog {
            entries: VecDeque::with_capacity(capacity),
            capacity,
            total: 0,
        }
    }

    /// Record a received message and return it.
    pub fn push(
        &mut self,
        topic: &str,
        payload: &[u8],
        retained: bool,
        qos: u8,
        received_ms: u64,
        time: String,
    ) -> &MessageRecord {
        let record = MessageRecord {
            id: self.total,
            topic: topic.to_owned(),
            payload: payload_text(payload),
            payload_len: payload.len(),
            retained,
            qos,
            received_ms,
            time,
        };
        self.total += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_back();
        }
        self.entries.push_front(record);
        &self.entries[0]
    }

    /// Newest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &MessageRecord> + ExactSizeIterator {
        self.entries.iter()
    }

    /// The most recent message.
    pub fn latest(&self) -> Option<&MessageRecord> {
        self.entries.front()
    }

    /// Messages held now (at most the capacity).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Messages received since the log was created or cleared.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Forget every message and reset the counter.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.total = 0;
    }
}

impl Default for MessageLog {
    fn default() -> MessageLog {
        MessageLog::new(DEFAULT_CAPACITY)
    }
}

/// The payload as display text: lossy UTF-8, cut at [`MAX_PAYLOAD_BYTES`]
/// without splitting a character.
pub fn payload_text(payload: &[u8]) -> String {
    if payload.len() <= MAX_PAYLOAD_BYTES {
        return String::from_utf8_lossy(payload).into_owned();
    }
    let mut cut = MAX_PAYLOAD_BYTES;
    // Step back over UTF-8 continuation bytes (at most 3) to a char boundary.
    while cut > MAX_PAYLOAD_BYTES - 3 && payload[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    let mut text = String::from_utf8_lossy(&payload[..cut]).into_owned();
    text.push('…');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(log: &mut MessageLog, topic: &str, payload: &str) {
        log.push(topic, payload.as_bytes(), false, 0, 0, "00:00:00".into());
    }

    fn topics(log: &MessageLog) -> Vec<&str> {
        log.iter().map(|m| m.topic.as_str()).collect()
    }

    #[test]
    fn newest_first() {
        let mut log = MessageLog::new(10);
        push(&mut log, "a", "1");
        push(&mut log, "b", "2");
        push(&mut log, "c", "3");
        assert_eq!(topics(&log), ["c", "b", "a"]);
        assert_eq!(log.latest().unwrap().payload, "3");
        assert_eq!(log.len(), 3);
        assert_eq!(log.total(), 3);
    }

    #[test]
    fn capacity_drops_the_oldest_and_counts_everything() {
        let mut log = MessageLog::new(3);
        for topic in ["a", "b", "c", "d", "e"] {
            push(&mut log, topic, "");
        }
        assert_eq!(topics(&log), ["e", "d", "c"]);
        assert_eq!(log.len(), 3);
        assert_eq!(log.capacity(), 3);
        assert_eq!(log.total(), 5);
    }

    #[test]
    fn ids_are_unique_and_increasing() {
        let mut log = MessageLog::new(2);
        for _ in 0..5 {
            push(&mut log, "t", "");
        }
        let ids: Vec<u64> = log.iter().map(|m| m.id).collect();
        assert_eq!(ids, [4, 3]);
    }

    #[test]
    fn zero_capacity_is_raised_to_one() {
        let mut log = MessageLog::new(0);
        push(&mut log, "a", "");
        push(&mut log, "b", "");
        assert_eq!(topics(&log), ["b"]);
    }

    #[test]
    fn record_keeps_flags_and_time() {
        let mut log = MessageLog::default();
        assert_eq!(log.capacity(), DEFAULT_CAPACITY);
        let record = log
            .push(
                "$SYS/broker/uptime",
                b"42",
                true,
                1,
                1_700_000_000_000,
                "12:34:56".into(),
            )
            .clone();
        assert_eq!(
            record,
            MessageRecord {
                id: 0,
                topic: "$SYS/broker/uptime".into(),
                payload: "42".into(),
                payload_len: 2,
                retained: true,
                qos: 1,
                received_ms: 1_700_000_000_000,
                time: "12:34:56".into(),
            }
        );
    }

    #[test]
    fn clear_resets_everything() {
        let mut log = MessageLog::new(5);
        push(&mut log, "a", "");
        log.clear();
        assert!(log.is_empty());
        assert_eq!(log.total(), 0);
        push(&mut log, "b", "");
        assert_eq!(log.latest().unwrap().id, 0);
    }

    #[test]
    fn payload_is_lossy_utf8() {
        assert_eq!(payload_text(b"21.5"), "21.5");
        assert_eq!(payload_text("héllo".as_bytes()), "héllo");
        assert_eq!(payload_text(&[b'a', 0xff, b'b']), "a\u{fffd}b");
        assert_eq!(payload_text(b""), "");
    }

    #[test]
    fn long_payloads_are_cut_on_a_char_boundary() {
        // 'é' is two bytes; an odd prefix puts the cut inside one.
        let mut payload = vec![b'x'];
        payload.extend("é".repeat(MAX_PAYLOAD_BYTES).as_bytes());
        let text = payload_text(&payload);
        assert!(text.ends_with('…'));
        assert!(!text.contains('\u{fffd}'));
        let body = text.trim_end_matches('…');
        assert!(body.len() <= MAX_PAYLOAD_BYTES);
        assert!(body.len() >= MAX_PAYLOAD_BYTES - 3);

        let mut log = MessageLog::new(1);
        let record = log.push("t", &payload, false, 0, 0, String::new());
        assert!(record.truncated());
        assert_eq!(record.payload_len, payload.len());
    }

    #[test]
    fn payload_of_exactly_the_limit_is_kept_whole() {
        let payload = vec![b'y'; MAX_PAYLOAD_BYTES];
        assert_eq!(payload_text(&payload).len(), MAX_PAYLOAD_BYTES);
    }
}
