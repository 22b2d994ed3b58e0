//! # kite-bench: load generator and broker comparison
//!
//! Drives MQTT brokers with the project's own sans-I/O client session
//! (`mqtt::client::ClientSession`) over tokio, over TCP or WebSocket, and
//! checks every message on arrival: a run that loses, duplicates, reorders,
//! corrupts or misroutes a message says so and fails.
//!
//! # Layout
//! - [`payload`]: the 16-byte header every message carries (publisher, sequence,
//!   send time, checksum) and its check.
//! - [`check`]: the per-subscriber arrival checker and latency histogram.
//! - [`link`]: one client connection (TCP or WebSocket) around `ClientSession`.
//! - [`scenario`]: what a step does (`Traffic`, `Storm`, `Idle`) and what it measured (`Metrics`).
//! - [`traffic`]: fan-in, fan-out, pairs and fixed-rate latency runs, with windowed flow control.
//! - [`conns`]: connection storm and idle connections.
//! - [`small_clients`]: Debian's `mosquitto_pub -l` processes into one
//!   `mosquitto_sub`, unpipelined clients sending one message per packet.
//! - [`many`]: up to a million idle connections from several source
//!   addresses, measured at milestones (`kite-bench connections`); the
//!   connections live in [`many_worker`] processes (`kite-bench many-worker`);
//!   [`many_step`]: that run as compare's `connections` step;
//!   [`many_report`]: its summary section and its chart; [`fd_limit`]: the
//!   open-file limit raised as far as allowed.
//! - [`procstat`]: CPU time and RSS from `/proc`.
//! - [`brokers`]: starting and stopping kite-server, Mosquitto and rumqttd on loopback.
//! - [`bridge`]: a bridging broker (kite-server or Mosquitto) and the far Mosquitto it bridges to.
//! - [`compare`]: the quick and full plans, run interleaved across brokers.
//! - [`cluster`]: starting a 3-node Kite cluster (on 3 NATS servers), a
//!   3-node nats-server cluster with MQTT, and single-node Kite.
//! - [`cluster_compare`]: `compare --cluster`, cross-node fan-in and fan-out
//!   on those three; [`cluster_report`]: its goals, table, JSON and charts.
//! - [`targets`]: the targets checked against a comparison.
//! - [`store_engines`]: `kite-bench store-engines`, the persistent queue's
//!   workload on redb (as Kite uses it, and one record per round), an
//!   append-only segment log, and with `--features engines` fjall and Kite's
//!   own store; throughput, CPU, disk writes, recovery and a crash check.
//! - [`report`]: Markdown tables and JSON; [`svg`]: bar and line charts.
//! - [`progress`]: the progress line during long runs; [`numbers`]: number formatting.
//! - [`error`]: the `BenchError` type.

pub mod bridge;
pub mod brokers;
pub mod check;
pub mod cluster;
pub mod cluster_compare;
pub mod cluster_report;
pub mod compare;
pub mod conns;
pub mod error;
pub mod fd_limit;
pub mod link;
pub mod many;
pub mod many_report;
pub mod many_step;
pub mod many_worker;
pub mod numbers;
pub mod payload;
pub mod procstat;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod small_clients;
pub mod store_engines;
pub mod svg;
pub mod targets;
pub mod traffic;

pub use error::BenchError;

/// Raise the open-files limit to its hard limit: 10,000 idle connections
/// need as many descriptors, here and in the brokers we start.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
