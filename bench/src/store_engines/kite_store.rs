//! Kite's real store, `kite_server::store::RedbStore` with `--durability
//! batch`, driven through its public `SessionStore` trait: each round is
//! one batch of `Op::Enqueue` and `Op::DeleteQueued`, submitted with a
//! ticket. This row checks the `redb_entries` model against the code: the
//! store's own writer thread gathers rounds (2 ms window) and holds new
//! entries for 5 ms, which no entry here outlives unacknowledged (the
//! acknowledgements come 15–40 ms later), so every entry is written and
//! deleted as in the model.
//!
//! The broker answers each publisher when its ticket resolves while other
//! publishers go on, so a round does not wait for its own ticket here,
//! only for the one [`IN_FLIGHT`] rounds back. (Waiting for each round's
//! own ticket stalls: the store writes a held entry in its next round after
//! 5 ms, and with nothing more submitted that round comes late; rounds then
//! took ~80 ms.) So a round is not durable when `commit` returns, and the
//! crash check does not apply; `server/tests/store_once.rs` SIGKILLs the
//! real broker instead.

use std::{
    collections::{HashSet, VecDeque},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use kite_server::{
    config::Durability,
    protocol::message::{Message, Outbound},
    store::{Op, Queued, QueuedState, RedbStore, SessionRecord, SessionStore, StoreError, Ticket},
};

use super::{
    workload::{client_id, client_number, payload, EntryKey, Round},
    Engine, EngineError,
};

/// Rounds whose tickets may be outstanding at once: 8 rounds of 2 ms, less
/// than the shortest acknowledgement delay (15 ms).
pub const IN_FLIGHT: usize = 8;

pub struct KiteStore {
    store: RedbStore,
    runtime: tokio::runtime::Runtime,
    tickets: VecDeque<Ticket>,
    /// Clients with a stored session (entries of others would not load).
    sessions: HashSet<u32>,
}

fn kite_error(e: StoreError) -> EngineError {
    EngineError::Kite(e.to_string())
}

fn session() -> SessionRecord {
    SessionRecord {
        protocol: mqtt::Protocol::V311,
        expiry_interval: u32::MAX,
        disconnected_at: 0,
        subscriptions: vec![],
        incoming_qos2: vec![],
    }
}

fn message(seq: u64) -> Arc<Message> {
    let mut message = Message::sys(
        "bench/queue".into(),
        bytes::Bytes::copy_from_slice(&payload(seq)),
    );
    message.qos = mqtt::QoS::AtLeastOnce;
    message.retain = false;
    message.origin = Arc::from("publisher");
    Arc::new(message)
}

impl KiteStore {
    pub fn open(dir: &Path) -> Result<(KiteStore, Vec<EntryKey>), EngineError> {
        // The last store's writer thread lets go of the file just after it
        // closes: wait for that a little.
        let deadline = Instant::now() + Duration::from_secs(5);
        let (store, loaded) = loop {
            match RedbStore::open(dir, Durability::Batch) {
                Ok(opened) => break opened,
                Err(StoreError::Open { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(kite_error(e)),
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let mut live = Vec::new();
        let mut sessions = HashSet::new();
        for loaded in loaded.sessions {
            let client = client_number(&loaded.client)
                .ok_or_else(|| EngineError::Corrupt(format!("client id {:?}", loaded.client)))?;
            sessions.insert(client);
            for queued in loaded.queue {
                let seq = queued.outbound.seq.ok_or_else(|| {
                    EngineError::Corrupt(format!("an entry of {client} without a seq"))
                })?;
                live.push(EntryKey { client, seq });
            }
        }
        let engine = KiteStore {
            store,
            runtime,
            tickets: VecDeque::new(),
            sessions,
        };
        Ok((engine, live))
    }

    fn wait(&mut self, ticket: Ticket) -> Result<(), EngineError> {
        if self.runtime.block_on(ticket.committed()) {
            Ok(())
        } else {
            Err(EngineError::Kite("a write failed".into()))
        }
    }
}

impl Engine for KiteStore {
    fn commit(&mut self, round: &Round) -> Result<(), EngineError> {
        let mut ops = Vec::with_capacity(round.appended() + round.acks.len());
        for new in &round.messages {
            let message = message(new.seq);
            for entry in new.entries() {
                let client: Arc<str> = client_id(entry.client).into();
                if self.sessions.insert(entry.client) {
                    ops.push(Op::PutSession {
                        client: client.clone(),
                        record: session(),
                    });
                }
                let outbound = Outbound {
                    message: message.clone(),
                    qos: mqtt::QoS::AtLeastOnce,
                    retain: false,
                    subscription_ids: vec![],
                    seq: Some(new.seq),
                    receipt: None,
                };
                ops.push(Op::Enqueue {
                    client,
                    seq: new.seq,
                    queued: Queued {
                        outbound,
                        state: QueuedState::Queued,
                    },
                });
            }
        }
        for entry in &round.acks {
            ops.push(Op::DeleteQueued {
                client: client_id(entry.client).into(),
                seq: entry.seq,
            });
        }
        if let Some(ticket) = self.store.submit(ops, true) {
            self.tickets.push_back(ticket);
        }
        while self.tickets.len() > IN_FLIGHT {
            let ticket = self.tickets.pop_front().expect("more than one");
            self.wait(ticket)?;
        }
        Ok(())
    }
}

impl Drop for KiteStore {
    /// Everything submitted is committed before the store closes (the
    /// next open, in this process, finds the file free sooner).
    fn drop(&mut self) {
        let mut pending: Vec<Ticket> = self.tickets.drain(..).collect();
        pending.extend(self.store.sync());
        for ticket in pending {
            let _ = self.wait(ticket);
        }
    }
}
