//! The broker: shared state (router, retained store, client registry,
//! counters) and `run`, which starts the listeners and waits for shutdown.

use std::{
    future::Future,
    io,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use tokio::sync::watch;

use crate::{
    config::Config,
    http, listener,
    message::{Message, Outbound},
    registry::Registry,
    retained::{MemoryRetained, RetainedStore},
    router::Router,
    sys,
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
    #[error("HTTP server failed: {0}")]
    Http(io::Error),
}

/// Counters behind `$SYS` and `/metrics`.
#[derive(Debug, Default)]
pub struct Stats {
    pub clients_connected: AtomicU64,
    pub clients_total: AtomicU64,
    pub messages_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// State shared by every connection.
pub struct Shared {
    pub config: Config,
    pub router: Router,
    pub retained: Box<dyn RetainedStore>,
    pub stats: Stats,
    pub started: Instant,
    pub registry: Registry,
    /// Flips to true when the broker shuts down.
    pub shutdown: watch::Receiver<bool>,
}

impl Shared {
    /// Route a message: store it if retained, then hand it to each matching
    /// subscriber's queue. A full queue drops the message for that subscriber only.
    pub fn publish(&self, message: Message) {
        Stats::add(&self.stats.messages_received, 1);
        self.publish_internal(message);
    }

    /// Route a message the broker itself made (`$SYS`), without counting it as received.
    pub fn publish_internal(&self, message: Message) {
        let message = Arc::new(message);
        if message.retain {
            self.retained.retain(&message);
        }
        for m in self.router.matches(&message.topic, &message.origin) {
            let outbound = Outbound {
                message: message.clone(),
                qos: message.qos.min(m.qos),
                // MQTT-3.3.1-12: retain is cleared unless retain-as-published.
                retain: message.retain && m.retain_as_published,
                subscription_ids: m.subscription_ids,
            };
            if m.subscriber.tx.try_send(outbound).is_err() {
                Stats::add(&self.stats.messages_dropped, 1);
                tracing::debug!(client_id = %m.client_id, "queue full, message dropped");
            }
        }
    }
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
        let shared = Arc::new(Shared {
            config: self.config.clone(),
            router: Router::default(),
            retained: Box::new(MemoryRetained::default()),
            stats: Stats::default(),
            started: Instant::now(),
            registry: Registry::default(),
            shutdown: stop_rx,
        });
        let tcp = tokio::net::TcpListener::bind(self.config.tcp)
            .await
            .map_err(|source| BrokerError::Bind {
                what: "MQTT over TCP",
                addr: self.config.tcp,
                source,
            })?;
        let web = tokio::net::TcpListener::bind(self.config.http)
            .await
            .map_err(|source| BrokerError::Bind {
                what: "HTTP and WebSocket",
                addr: self.config.http,
                source,
            })?;
        tracing::info!(
            tcp = %tcp.local_addr().map_err(BrokerError::Http)?,
            http = %web.local_addr().map_err(BrokerError::Http)?,
            "kite-server {} listening (MQTT over TCP; HTTP with WebSocket at /mqtt)",
            env!("CARGO_PKG_VERSION")
        );
        let tcp_task = tokio::spawn(listener::accept_tcp(tcp, shared.clone()));
        let http_task = tokio::spawn(http::serve(web, shared.clone()));
        tokio::spawn(sys::publish_periodically(
            shared.clone(),
            std::time::Duration::from_secs(self.config.sys_interval),
        ));
        shutdown.await;
        let _ = stop_tx.send(true);
        tcp_task.abort();
        let _ = http_task.await;
        Ok(())
    }
}
