//! Which client ids are connected, and the sessions kept for clients that
//! are away (persistent sessions: clean session 0, or a v5 session expiry).
//!
//! A client id is held by at most one connection. A new connection with the
//! same id takes over: the old one is told to close and, once it has let go
//! of the id (parking its session or dropping it), the new one attaches.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::sync::Notify;

use crate::{limits::QueueBudget, session::Session};

/// A session whose client is away: its state and its message queue, which
/// keeps filling (up to its bound) while nobody reads it.
#[derive(Debug)]
pub struct Parked {
    pub session: Session,
    pub tx: crate::mailbox::Sender,
    pub rx: crate::mailbox::Receiver,
}

#[derive(Debug)]
enum Slot {
    Online {
        connection: u64,
        kick: Arc<Notify>,
        /// The session's queue counters, once the session is settled.
        budget: Option<Arc<QueueBudget>>,
    },
    Parked(Box<Parked>),
}

/// The client registry.
#[derive(Debug, Default)]
pub struct Registry {
    clients: Mutex<HashMap<Arc<str>, Slot>>,
    next_connection: AtomicU64,
}

/// How long a new connection waits for the one it takes over to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

impl Registry {
    /// Claim `client_id` for a new connection, taking it over from a connected
    /// client if need be. Returns the connection number and the parked session
    /// of this id, if there is one.
    pub async fn attach(&self, client_id: &Arc<str>, kick: Arc<Notify>) -> (u64, Option<Parked>) {
        let connection = self.new_generation();
        let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
        let mut kicked = false;
        loop {
            {
                let mut clients = self.clients.lock().expect("registry lock");
                match clients.get(client_id) {
                    Some(Slot::Online { kick: old, .. }) => {
                        if !kicked || tokio::time::Instant::now() >= deadline {
                            tracing::info!(client_id = %client_id, "client id taken over by a new connection");
                            old.notify_one();
                            kicked = true;
                        }
                        if tokio::time::Instant::now() >= deadline {
                            // The old task is stuck (e.g. a blocked write): take the id anyway.
                            clients.insert(
                                client_id.clone(),
                                Slot::Online {
                                    connection,
                                    kick,
                                    budget: None,
                                },
                            );
                            return (connection, None);
                        }
                    }
                    _ => {
                        let previous = clients.insert(
                            client_id.clone(),
                            Slot::Online {
                                connection,
                                kick,
                                budget: None,
                            },
                        );
                        let parked = match previous {
                            Some(Slot::Parked(parked)) => Some(*parked),
                            _ => None,
                        };
                        return (connection, parked);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The connection is gone: park its session (persistent) or forget the id.
    /// Does nothing if a newer connection already holds the id.
    pub fn detach(&self, client_id: &Arc<str>, connection: u64, parked: Option<Parked>) {
        let mut clients = self.clients.lock().expect("registry lock");
        if !matches!(clients.get(client_id), Some(Slot::Online { connection: c, .. }) if *c == connection)
        {
            return;
        }
        match parked {
            Some(parked) => clients.insert(client_id.clone(), Slot::Parked(Box::new(parked))),
            None => clients.remove(client_id),
        };
    }

    /// Remove the parked session of `client_id` if it is still the one of
    /// `generation` (its session expiry ran out).
    pub fn expire(&self, client_id: &Arc<str>, generation: u64) -> Option<Parked> {
        let mut clients = self.clients.lock().expect("registry lock");
        match clients.get(client_id) {
            Some(Slot::Parked(parked)) if parked.session.generation == generation => {
                match clients.remove(client_id) {
                    Some(Slot::Parked(parked)) => Some(*parked),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// A new connection (or session) number.
    pub fn new_generation(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keep a session restored from the store until its client comes back.
    pub fn park(&self, client_id: Arc<str>, parked: Parked) {
        let mut clients = self.clients.lock().expect("registry lock");
        clients.insert(client_id, Slot::Parked(Box::new(parked)));
    }

    /// Attach the session's queue counters to the connection holding `client_id`.
    pub fn set_budget(&self, client_id: &str, connection: u64, queue: Arc<QueueBudget>) {
        let mut clients = self.clients.lock().expect("registry lock");
        if let Some(Slot::Online {
            connection: c,
            budget,
            ..
        }) = clients.get_mut(client_id)
        {
            if *c == connection {
                *budget = Some(queue);
            }
        }
    }

    /// Per-client queue counters (bytes queued, messages dropped) of every
    /// session, online or parked, that has queued or dropped anything.
    pub fn queue_counters(&self) -> Vec<(Arc<str>, u64, u64)> {
        let clients = self.clients.lock().expect("registry lock");
        let mut out: Vec<(Arc<str>, u64, u64)> = clients
            .iter()
            .filter_map(|(id, slot)| {
                let budget = match slot {
                    Slot::Online { budget, .. } => budget.as_ref()?,
                    Slot::Parked(parked) => &parked.session.queue_budget,
                };
                let (bytes, dropped) = (budget.bytes(), budget.dropped());
                (bytes > 0 || dropped > 0).then(|| (id.clone(), bytes, dropped))
            })
            .collect();
        out.sort();
        out
    }

    /// True when a connection holds `client_id` now.
    pub fn is_connected(&self, client_id: &str) -> bool {
        let clients = self.clients.lock().expect("registry lock");
        matches!(clients.get(client_id), Some(Slot::Online { .. }))
    }

    /// Number of parked (offline persistent) sessions.
    pub fn parked(&self) -> usize {
        let clients = self.clients.lock().expect("registry lock");
        clients
            .values()
            .filter(|s| matches!(s, Slot::Parked(_)))
            .count()
    }
}
