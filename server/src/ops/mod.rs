//! Running the broker: start-up (the store, the listeners, the ready
//! line), the background tasks, the `$SYS` publisher, the SIGHUP reload,
//! the `passwd` and `import-mosquitto` commands, and the shutdown.

pub mod fd;
pub mod import_mosquitto;
pub mod passwd;
mod reload;
mod sys;
mod tasks;

use std::{
    future::Future,
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use mqtt::QoS;
use tokio::sync::watch;

use crate::{
    alarms::Alarms,
    bridge::{Bridges, Source},
    broker::{Backplane, Seams, Shared, SingleNode},
    cluster::{nats::NatsBackplane, owners::Owners, retained::KvRetained},
    config::{Config, Durability},
    history::{History, Settings},
    net::{http, listener},
    protocol::message::Message,
    routing::retained::{MemoryRetained, RetainedStore},
    store::{RedbStore, StoreError},
};

/// Why the broker could not run.
#[derive(thiserror::Error, Debug)]
pub enum BrokerError {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bad setting or file (password file, ACL, certificates).
    #[error("{0}")]
    Config(String),
    #[error("HTTP server failed: {0}")]
    Http(io::Error),
    /// NATS could not be reached (`--cluster`).
    #[error("{0}")]
    Cluster(String),
}

/// The addresses the broker listens on, once every listener is bound and
/// accepting. Printed as one line on standard output, a contract for
/// scripts and test harnesses: start with `--tcp 127.0.0.1:0` (any free
/// port) and read the ports the kernel chose from this line, instead of
/// guessing that whatever answers on a port is this broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub tcp: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    pub tls: Option<std::net::SocketAddr>,
}

impl std::fmt::Display for Ready {
    /// `kite-server ready tcp=ADDR http=ADDR[ tls=ADDR]`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{READY_PREFIX} tcp={} http={}", self.tcp, self.http)?;
        if let Some(tls) = self.tls {
            write!(f, " tls={tls}")?;
        }
        Ok(())
    }
}

/// How the ready line begins.
pub const READY_PREFIX: &str = "kite-server ready";

impl Ready {
    fn announce(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{self}");
        let _ = out.flush();
    }
}

/// How long a shutdown waits for connections to end before it commits the
/// store and returns anyway.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// This node's name in the cluster: `--node-id`, else the host name and
/// the MQTT port.
fn node_id(config: &Config) -> String {
    config.node_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "kite".into());
        format!("{host}-{}", config.tcp.port())
    })
}

/// The history as the flags say: off, in memory (`--durability none`),
/// or `history.redb` in the data folder.
fn start_history(config: &Config) -> Result<History, BrokerError> {
    if !config.history {
        return Ok(History::off());
    }
    let dir = (config.durability != Durability::None).then(|| config.data_dir.clone());
    History::start(Settings {
        dir,
        retention: config.history_retention.0,
        max_bytes: config.history_max_bytes,
    })
    .map_err(BrokerError::Config)
}

/// The Kite broker.
pub struct Broker {
    config: Config,
}

impl Broker {
    pub fn new(config: Config) -> Broker {
        Broker { config }
    }

    /// Bind every listener, serve until `shutdown` completes, then close all
    /// connections (v5 clients get DISCONNECT 0x8B).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), BrokerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let access =
            crate::security::auth::Access::load(&self.config).map_err(BrokerError::Config)?;
        let tls = crate::security::tls::acceptor(&self.config).map_err(BrokerError::Config)?;
        let file_rules = match &self.config.alarm_rules {
            Some(path) => Alarms::load_file(path).map_err(BrokerError::Config)?,
            None => Vec::new(),
        };
        let opened = Instant::now();
        let (store, loaded) = RedbStore::open(&self.config.data_dir, self.config.durability)?;
        let mut config = self.config.clone();
        let cluster = if self.config.cluster.is_empty() {
            None
        } else {
            let node = node_id(&self.config);
            // `$SYS/brokers/<node>/` and `/metrics` name it.
            config.node_id = Some(node.clone());
            let urls = &self.config.cluster;
            let kept = KvRetained::new();
            let joined =
                NatsBackplane::connect(urls, &node, self.config.cluster_wait, kept.clone());
            let joined = joined.await;
            Some((
                joined.map_err(|err| BrokerError::Cluster(err.to_string()))?,
                kept,
            ))
        };
        // A single node's retained messages are the store's; a cluster's,
        // its bucket's (the watch fills the tree).
        let (backplane, retained): (Box<dyn Backplane>, Box<dyn RetainedStore>) = match &cluster {
            Some((nats, kept)) => (Box::new(nats.clone()), Box::new(kept.clone())),
            None => {
                let retained = MemoryRetained::default();
                for message in loaded.retained.iter() {
                    retained.retain(&Arc::new(message.clone()));
                }
                (Box::new(SingleNode), Box::new(retained))
            }
        };
        let seams = Seams {
            retained,
            store: Box::new(store),
            backplane,
        };
        let history = start_history(&self.config)?;
        for message in &loaded.retained {
            history.replay(&message.topic, &message.payload);
        }
        let shared = Arc::new(Shared::new(config, access, seams, history, stop_rx));
        if let Some((nats, _)) = &cluster {
            // Before any subscription: the backplane counts them all.
            nats.attach(&shared);
            // Before any CONNECT: one connection per client id cluster-wide.
            let owners = Owners::new(&node_id(&self.config), nats.client(), nats.durable());
            let _ = shared.client_ids.set(Arc::new(owners.clone()));
            let for_owners = shared.clone();
            tokio::spawn(async move { owners.run(&for_owners).await });
            // Before any CONNECT too: each will fires once cluster-wide.
            let servers = nats.durable().servers();
            crate::cluster::wills::start(&node_id(&self.config), nats.client(), servers, &shared);
        }
        // Live users and roles before the first CONNECT.
        let control = crate::control::Control::start(&shared).map_err(BrokerError::Config)?;
        shared.alarms.restore(&loaded.retained);
        for (topic, payload) in file_rules {
            shared.publish_internal(Message {
                topic: topic.into(),
                payload: payload.into(),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Default::default(),
                origin: Arc::from("$kite/config"),
                expires_at: None,
            });
        }
        let sessions = loaded.sessions.len();
        // Each session's queue was stored with the stream position: it is
        // complete up to there (where its live copy starts, in a cluster).
        let stream_at = loaded.stream_position.unwrap_or(0);
        crate::broker::restore_sessions(&shared, loaded.sessions, stream_at);
        if let Some((nats, _)) = &cluster {
            // The sessions kept here get what was published while away.
            nats.read_stream(loaded.stream_position);
        }
        // After the sessions: each bridge resumes its own session here.
        let bridges = Arc::new(Bridges::new(shared.clone()));
        for bridge in &self.config.bridges {
            bridges
                .create(bridge.clone(), Source::File)
                .await
                .map_err(|err| BrokerError::Config(format!("bridge {:?}: {err}", bridge.name)))?;
        }
        control.start_bridges(bridges.clone()).await;
        if let Some(location) = shared.store.location() {
            tracing::info!(
                store = %location,
                retained = loaded.retained.len(),
                sessions,
                "store loaded in {:?}",
                opened.elapsed()
            );
        }
        let tcp = listener::bind(self.config.tcp).map_err(|source| BrokerError::Bind {
            what: "MQTT over TCP",
            addr: self.config.tcp,
            source,
        })?;
        let web = listener::bind(self.config.http).map_err(|source| BrokerError::Bind {
            what: "HTTP and WebSocket",
            addr: self.config.http,
            source,
        })?;
        let mut ready = Ready {
            tcp: tcp.local_addr().map_err(BrokerError::Http)?,
            http: web.local_addr().map_err(BrokerError::Http)?,
            tls: None,
        };
        tracing::info!(
            tcp = %ready.tcp,
            http = %ready.http,
            "kite-server {} listening (MQTT over TCP; HTTP with WebSocket at /mqtt)",
            env!("CARGO_PKG_VERSION")
        );
        let tls_task = match (tls.clone(), self.config.tls) {
            (Some(acceptor), Some(addr)) => {
                let tls_listener = listener::bind(addr).map_err(|source| BrokerError::Bind {
                    what: "MQTT over TLS",
                    addr,
                    source,
                })?;
                let bound = tls_listener.local_addr().map_err(BrokerError::Http)?;
                ready.tls = Some(bound);
                tracing::info!(tls = %bound, "MQTT over TLS listening");
                let accept = listener::accept(tls_listener, shared.clone(), Some(acceptor));
                Some(tokio::spawn(accept))
            }
            _ => None,
        };
        reload::announce(&shared);
        let tcp_task = tokio::spawn(listener::accept(tcp, shared.clone(), None));
        let http_task = tokio::spawn(http::serve(web, shared.clone(), tls));
        tasks::spawn_all(&shared);
        tokio::spawn(sys::publish_periodically(
            shared.clone(),
            std::time::Duration::from_secs(self.config.sys_interval),
        ));
        ready.announce();
        shutdown.await;
        // Bridges first: each says goodbye to its remote while this broker
        // still takes its session back.
        bridges.stop_all().await;
        let _ = stop_tx.send(true);
        // Dormant connections have no task to see the flag: wake them.
        shared.registry.kick_all();
        tcp_task.abort();
        if let Some(task) = tls_task {
            task.abort();
        }
        let _ = http_task.await;
        // Let every connection say goodbye (v5: DISCONNECT 0x8B) and hand
        // its session to the store, but not for ever.
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while shared.stats.clients_connected.get() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = shared.stats.clients_connected.get();
        if left > 0 {
            tracing::warn!(
                left,
                "connections still open after {SHUTDOWN_WAIT:?}; closing anyway"
            );
        }
        if let Some(wills) = shared.wills.get() {
            // The ended connections' wills settled in the cluster's bucket.
            let _ = tokio::time::timeout(Duration::from_secs(3), wills.settled().committed()).await;
        }
        shared.history.stop();
        // What nobody waited for may not be committed yet.
        if let Some(ticket) = shared.store.sync() {
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(5), ticket.committed()).await;
        }
        Ok(())
    }
}
