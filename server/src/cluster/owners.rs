//! One connection per client id across the cluster. A JetStream key-value
//! bucket, `kite_owners`, says which node holds each connected client id.
//! A node about to accept a CONNECT claims the id: if another node holds
//! it, that node is asked (a request on its own control subject) to close
//! the connection with DISCONNECT 0x8E (Session taken over) and answers
//! once it is closed; then the claim is written with compare-and-set, so of
//! two nodes connecting the same id at once the later write wins and the
//! other is taken over in turn. A node that does not answer (it died) is
//! not waited for; a bucket that cannot be reached delays a CONNECT by at
//! most [`CLAIM_TIMEOUT`], then the node carries on alone.
//!
//! Persistent sessions stay on the node that holds them (they do not move
//! with the client yet).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, Weak},
    time::Duration,
};

use async_nats::jetstream::{self, kv};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::{
    broker::{ClientIds, Shared},
    store::Ticket,
};

/// The bucket's name.
pub(crate) const BUCKET: &str = "kite_owners";
/// The longest a CONNECT waits for its claim.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a node waits for a connection it was asked to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// This node's side of the client-id ownership.
pub(crate) struct Owners {
    node: String,
    client: async_nats::Client,
    bucket: OnceLock<kv::Store>,
    shared: OnceLock<Weak<Shared>>,
    /// Client ids this node is connecting (claimed, not yet in its
    /// registry), and whether another node took one over meanwhile: that
    /// connection is then closed as soon as it is registered.
    connecting: Mutex<HashMap<String, bool>>,
}

/// The control subject a node answers takeovers on.
fn takeover_subject(node: &str) -> String {
    format!("K.ctl.takeover.{}", URL_SAFE_NO_PAD.encode(node))
}

/// A client id as a bucket key (any id: base64url).
fn key(client_id: &str) -> String {
    format!("c.{}", URL_SAFE_NO_PAD.encode(client_id))
}

impl Owners {
    pub(crate) fn new(node: &str, client: async_nats::Client) -> Arc<Owners> {
        Arc::new(Owners {
            node: node.to_string(),
            client,
            bucket: OnceLock::new(),
            shared: OnceLock::new(),
            connecting: Mutex::new(HashMap::new()),
        })
    }

    /// Open the bucket (retrying until NATS answers) and answer other
    /// nodes' takeovers for the life of the broker.
    pub(crate) async fn run(self: Arc<Self>, shared: &Arc<Shared>) {
        let _ = self.shared.set(Arc::downgrade(shared));
        let js = jetstream::new(self.client.clone());
        let mut requests = loop {
            match self.client.subscribe(takeover_subject(&self.node)).await {
                Ok(requests) => break requests,
                Err(err) => {
                    tracing::warn!(%err, "cluster: cannot subscribe to takeovers; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let opener = self.clone();
        tokio::spawn(async move {
            loop {
                match super::bucket::open(&js, &opener.client, BUCKET).await {
                    Ok(store) => {
                        let _ = opener.bucket.set(store);
                        tracing::info!(
                            bucket = BUCKET,
                            "cluster: client ids are held cluster-wide"
                        );
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(%err, "cluster: client-id bucket not reachable yet; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        while let Some(request) = requests.next().await {
            let Some(reply) = request.reply.clone() else {
                continue;
            };
            let Some(shared) = self.shared.get().and_then(Weak::upgrade) else {
                return;
            };
            let client_id = String::from_utf8_lossy(&request.payload).into_owned();
            let client = self.client.clone();
            let owners = self.clone();
            tokio::spawn(async move {
                {
                    // Under the lock `registered` takes: a connection still
                    // being made here is marked (it closes once registered),
                    // one registered already is closed now.
                    let mut connecting = owners.connecting();
                    match connecting.get_mut(&client_id) {
                        Some(taken) => *taken = true,
                        None => {
                            shared.registry.taken_elsewhere(&client_id);
                        }
                    }
                }
                if shared.registry.is_connected(&client_id) {
                    tracing::info!(client_id, "client id taken over by another node");
                    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
                    while shared.registry.is_connected(&client_id)
                        && tokio::time::Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                let _ = client.publish(reply, Bytes::new()).await;
            });
        }
    }

    fn connecting(&self) -> std::sync::MutexGuard<'_, HashMap<String, bool>> {
        self.connecting.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn claim_now(&self, client_id: &str) {
        let Some(store) = self.bucket.get() else {
            return;
        };
        let key = key(client_id);
        let me = Bytes::from(self.node.clone());
        for _ in 0..5 {
            let entry = match store.entry(&key).await {
                Ok(entry) => entry.filter(|e| e.operation == kv::Operation::Put),
                Err(err) => {
                    tracing::warn!(%err, client_id, "cluster: cannot read the client id's owner");
                    return;
                }
            };
            let written = match entry {
                None => store.create(&key, me.clone()).await.is_ok(),
                Some(entry) => {
                    if entry.value != me {
                        let owner = String::from_utf8_lossy(&entry.value).into_owned();
                        // No responders (the owner is gone) answers at once.
                        let asked = self
                            .client
                            .request(takeover_subject(&owner), Bytes::from(client_id.to_string()));
                        let _ = tokio::time::timeout(CLOSE_WAIT, asked).await;
                    }
                    store.update(&key, me.clone(), entry.revision).await.is_ok()
                }
            };
            if written {
                return;
            }
        }
        tracing::warn!(client_id, "cluster: client id contested; connecting anyway");
    }

    async fn release_now(&self, client_id: &str) {
        let (Some(store), Some(shared)) =
            (self.bucket.get(), self.shared.get().and_then(Weak::upgrade))
        else {
            return;
        };
        if shared.registry.is_connected(client_id) {
            // A newer connection here holds it now.
            return;
        }
        let key = key(client_id);
        if let Ok(Some(entry)) = store.entry(&key).await {
            if entry.operation == kv::Operation::Put && entry.value == self.node.as_bytes() {
                let _ = store
                    .delete_expect_revision(&key, Some(entry.revision))
                    .await;
            }
        }
    }
}

impl ClientIds for Arc<Owners> {
    fn claim(&self, client_id: &str) -> Ticket {
        self.connecting().insert(client_id.to_string(), false);
        let (done, ticket) = Ticket::new();
        let owners = self.clone();
        let client_id = client_id.to_string();
        tokio::spawn(async move {
            if tokio::time::timeout(CLAIM_TIMEOUT, owners.claim_now(&client_id))
                .await
                .is_err()
            {
                tracing::warn!(client_id, "cluster: no answer on the client id's owner within {CLAIM_TIMEOUT:?}; connecting anyway");
            }
            let _ = done.send(());
        });
        ticket
    }

    fn registered(&self, client_id: &str) -> bool {
        self.connecting().remove(client_id).unwrap_or(false)
    }

    fn release(&self, client_id: &str) {
        let owners = self.clone();
        let client_id = client_id.to_string();
        tokio::spawn(async move { owners.release_now(&client_id).await });
    }
}
