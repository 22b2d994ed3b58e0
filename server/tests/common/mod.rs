//! Harness for the black-box broker tests: start the real `kite-server`
//! binary on free loopback ports, talk to it with raw bytes built here by
//! hand (replies are decoded with the project's codec, `mqtt::decode`), or
//! with rumqttc, an MQTT client this project did not write.
//!
//! - [`broker`]: the `kite-server` process (start, restart, log on failure).
//! - [`raw`]: a raw TCP client; [`wire`]: the client → broker bytes it sends.
//! - [`clients`]: rumqttc 3.1.1 and 5.0 clients driven by a background task.
//! - [`nats`]: a real `nats-server` for the cluster tests; [`cluster`]:
//!   nodes on it, and numbered messages read back.
//! - [`mosquitto`]: a real Mosquitto broker (bridges into Kite).
//!
//! Every wait has a timeout, so a broken behaviour fails a test quickly
//! instead of hanging it.
// Each test file uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod clients;
pub mod cluster;
pub mod mosquitto;
pub mod nats;
pub mod raw;
pub mod wire;

use std::{future::Future, time::Duration};

use tokio::time::timeout;

pub use broker::{Broker, Stop};
pub use clients::{qos, qos5, v4_publish, v5_publish, Events, V4, V5};
pub use cluster::{
    cluster_node, cluster_node_with, connect_again, publish_accepted, quiet, reading, ready,
    receive, receive_flagged, wait_log, Numbered,
};
pub use mosquitto::Mosquitto;
pub use nats::{Nats, NatsCluster};
pub use raw::Raw;
pub use wire::*;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(500);

/// Await `fut`, failing the test if it takes longer than `WAIT`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match timeout(WAIT, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// The codec's QoS for a number.
pub fn mqtt_qos(n: u8) -> mqtt::QoS {
    mqtt::QoS::from_u8(n).expect("QoS 0..=2")
}
