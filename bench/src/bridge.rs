//! The bridge step: a far Mosquitto, and a bridging broker (kite-server
//! with a `[[bridge]]`, or Mosquitto with a `connection` section) that
//! carries `bench/#` to it at QoS 1 over loopback. The publishers load the
//! bridging broker; one subscriber on the far Mosquitto checks every
//! message (count, order per publisher, checksum), as in any traffic run.

use std::time::Duration;

use mqtt::{client::ClientEvent, QoS};
use tokio::time::{timeout, Instant};

use crate::{
    brokers::{Binaries, BrokerKind, Running, StartOptions, BRIDGE_NAME, BRIDGE_ROOT},
    error::BenchError,
    link::{client_options, Link, Transport},
    traffic::{unique_tag, Far, Target},
};

/// How long the bridge may take to say it is connected.
const UP: Duration = Duration::from_secs(20);

/// The two brokers of a bridge run, both started by us.
pub struct Bridged {
    /// The bridging broker, where the publishers connect.
    pub near: Running,
    /// The far Mosquitto, where the subscriber connects.
    pub far: Running,
}

impl Bridged {
    /// Start the far Mosquitto, then `kind` bridging to it (kite-server with
    /// `--durability durability` when given), and wait until the bridge is
    /// connected: its retained `$SYS/broker/connection/bench-bridge/state`
    /// on the bridging broker says `1`.
    pub async fn start(
        kind: BrokerKind,
        binaries: &Binaries,
        durability: Option<String>,
    ) -> Result<Bridged, BenchError> {
        let far = Running::start(BrokerKind::Mosquitto, binaries, &StartOptions::default()).await?;
        let options = StartOptions {
            durability,
            low_latency: false,
            bridge_to: Some(far.target.endpoint.tcp.port()),
            tcp_only: false,
        };
        let near = Running::start(kind, binaries, &options).await?;
        wait_up(&near.target).await?;
        Ok(Bridged { near, far })
    }

    /// Where the subscribers go, and the topics the bridge carries.
    pub fn far(&self) -> Far {
        Far {
            target: self.far.target.clone(),
            root: BRIDGE_ROOT.into(),
        }
    }

    /// Are both still running?
    pub fn alive(&mut self) -> bool {
        self.near.alive() && self.far.alive()
    }

    /// Stop both, the bridging broker first.
    pub async fn stop(self) -> Result<(), BenchError> {
        let near = self.near.stop().await;
        let far = self.far.stop().await;
        near.and(far)
    }
}

/// Wait for the retained `1` on the bridge's state topic of `target`.
async fn wait_up(target: &Target) -> Result<(), BenchError> {
    let topic = format!("$SYS/broker/connection/{BRIDGE_NAME}/state");
    let options = client_options(format!("kb-{}-state", unique_tag()), true);
    let mut link = Link::open(&target.endpoint, Transport::Tcp, options, Instant::now()).await?;
    // Not `Link::subscribe`: the retained message may come in the same read
    // as the SUBACK, and that one only looks for the SUBACK.
    let now = link.now_ms();
    link.session
        .subscribe(&[(topic.as_str(), QoS::AtMostOnce)], now)?;
    link.flush();
    let up = timeout(UP, async {
        loop {
            for event in link.read().await? {
                if let ClientEvent::Message(publish) = event {
                    if &*publish.topic == topic.as_str() && &publish.payload[..] == b"1" {
                        return Ok(());
                    }
                }
            }
        }
    })
    .await;
    link.close().await;
    match up {
        Ok(result) => result,
        Err(_) => Err(BenchError::timeout(format!("{topic} to be 1"), UP)),
    }
}
