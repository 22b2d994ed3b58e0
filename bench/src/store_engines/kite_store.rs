//! Kite's real store, `kite_server::store::RedbStore` with `--durability
//! batch`, driven through its public `SessionStore` trait: each round is
//! one batch of `Op::Enqueue` and `Op::DeleteQueued`, submitted with a
//! ticket. This row checks the `redb_entries` model against the code: the
//! store's own writer thread gathers rounds (2 ms window) and holds new
//! entries for 5 ms, which no entry here outlives unacknowledged (the
//! acknowledgements come 15–40 ms later), so every entry is written and
//! deleted as in the model.
//!
//! A round returns once its ticket resolved, as a publisher gets its PUBACK:
//! its entries were held 5 ms, found unacknowledged and committed. Rounds
//! so last at least 5 ms and gather more messages each; and each is durable
//! when `commit` returns, so the crash check applies as to the others.

use std::{
    collections::HashSet,
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

pub struct KiteStore {
    store: RedbStore,
    runtime: tokio::runtime::Runtime,
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
        match self.store.submit(ops, true) {
            Some(ticket) => self.wait(ticket),
            None => Ok(()),
        }
    }
}

impl Drop for KiteStore {
    /// Everything submitted is committed before the store closes (the
    /// next open, in this process, finds the file free sooner).
    fn drop(&mut self) {
        if let Some(ticket) = self.store.sync() {
            let _ = self.wait(ticket);
        }
    }
}
