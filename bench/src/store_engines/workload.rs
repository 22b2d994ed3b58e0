//! The queue workload every engine gets, from one generator: rounds that
//! append new messages (each an entry per session it is queued for) and
//! acknowledge the entries whose acknowledgement delay has passed.
//!
//! It is deterministic given a seed and the round times, so a crash check
//! can say exactly which entries a round appended and which it deleted.

use std::{cmp::Reverse, collections::BinaryHeap};

/// Bytes of a queued message's payload (the fan-in benchmark's size).
pub const PAYLOAD: usize = 64;

/// Bytes of a session's delivery record (QoS, flags, packet id, state, …),
/// as large as Kite's `records::encode_delivery` output is at most.
pub const DELIVERY: usize = 16;

/// The shortest and longest acknowledgement delay, µs: what the fan-in
/// benchmark's subscriber takes at ~150k msg/s.
pub const ACK_DELAY_US: (u64, u64) = (15_000, 40_000);

/// One session's queue entry: its client and the message's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryKey {
    pub client: u32,
    pub seq: u64,
}

/// A message queued by one publish: `seq`, for clients `0..sessions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewMessage {
    pub seq: u64,
    pub sessions: u32,
}

impl NewMessage {
    /// Its entries, one per session.
    pub fn entries(&self) -> impl Iterator<Item = EntryKey> + '_ {
        (0..self.sessions).map(move |client| EntryKey {
            client,
            seq: self.seq,
        })
    }
}

/// What one round does to the store, committed durably as a whole.
#[derive(Clone, Debug, Default)]
pub struct Round {
    pub number: u64,
    pub messages: Vec<NewMessage>,
    /// Entries acknowledged: each was appended by an earlier round.
    pub acks: Vec<EntryKey>,
}

impl Round {
    /// Entries this round appends.
    pub fn appended(&self) -> usize {
        self.messages.iter().map(|m| m.sessions as usize).sum()
    }
}

/// A session's client id as Kite keys it (a string, as MQTT clients name themselves).
pub fn client_id(client: u32) -> String {
    format!("sub-{client:05}")
}

/// The client number back from [`client_id`].
pub fn client_number(id: &str) -> Option<u32> {
    id.strip_prefix("sub-")?.parse().ok()
}

/// A message's payload: its seq repeated, so a reader could check it.
pub fn payload(seq: u64) -> [u8; PAYLOAD] {
    let mut out = [0u8; PAYLOAD];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&seq.to_le_bytes());
    }
    out
}

/// A session's delivery record for a message.
pub fn delivery(key: EntryKey) -> [u8; DELIVERY] {
    let mut out = [0u8; DELIVERY];
    out[0] = 1; // QoS 1, not retained
    out[1..5].copy_from_slice(&key.client.to_le_bytes());
    out[8..16].copy_from_slice(&key.seq.to_le_bytes());
    out
}

/// Makes the rounds: new messages on demand, acknowledgements by age.
pub struct Generator {
    sessions: u32,
    next_seq: u64,
    rng: u64,
    next_round: u64,
    /// Unacknowledged entries by when they are due (µs on the caller's clock).
    due: BinaryHeap<Reverse<(u64, EntryKey)>>,
}

impl Generator {
    /// Messages for `sessions` sessions each (1: fan-in; 100: fan-out).
    pub fn new(sessions: u32, seed: u64) -> Generator {
        Generator {
            sessions: sessions.max(1),
            next_seq: 1,
            rng: seed | 1,
            next_round: 1,
            due: BinaryHeap::new(),
        }
    }

    /// xorshift64*: enough spread for delays, and no dependency.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next round at `now_us`: `messages` new messages, and every entry
    /// whose acknowledgement delay has passed by then.
    pub fn round(&mut self, now_us: u64, messages: usize) -> Round {
        let mut acks = Vec::new();
        while let Some(Reverse((at, key))) = self.due.peek().copied() {
            if at > now_us {
                break;
            }
            self.due.pop();
            acks.push(key);
        }
        let mut new = Vec::with_capacity(messages);
        for _ in 0..messages {
            let message = NewMessage {
                seq: self.next_seq,
                sessions: self.sessions,
            };
            self.next_seq += 1;
            for key in message.entries() {
                let (low, high) = ACK_DELAY_US;
                let delay = low + self.next_random() % (high - low + 1);
                self.due.push(Reverse((now_us + delay, key)));
            }
            new.push(message);
        }
        let number = self.next_round;
        self.next_round += 1;
        Round {
            number,
            messages: new,
            acks,
        }
    }

    /// Entries appended and not acknowledged yet.
    pub fn live(&self) -> usize {
        self.due.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_acknowledged_between_15_and_40_ms_after_their_round() {
        let mut generator = Generator::new(2, 7);
        let first = generator.round(0, 10);
        assert_eq!(first.appended(), 20);
        assert!(generator.round(14_999, 0).acks.is_empty());
        let mut acked = 0;
        for now in (15_000..=40_000).step_by(1000) {
            acked += generator.round(now, 0).acks.len();
        }
        assert_eq!(acked, 20);
        assert_eq!(generator.live(), 0);
    }

    #[test]
    fn the_same_seed_and_times_make_the_same_rounds() {
        let run = || {
            let mut generator = Generator::new(1, 42);
            (0..50u64)
                .map(|r| generator.round(r * 2_000, 5).acks)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn client_ids_read_back() {
        assert_eq!(client_number(&client_id(42)), Some(42));
        assert_eq!(client_number("other"), None);
    }
}
