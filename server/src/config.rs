//! Command-line flags. The flag names are a contract: tests, `make run` and
//! other tools start the broker with them.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

/// The Kite MQTT broker: MQTT 3.1, 3.1.1 and 5.0 over TCP, and over WebSocket
/// at `/mqtt` on the HTTP port, which also serves the dashboard.
#[derive(Parser, Debug, Clone)]
#[command(name = "kite-server", version, about, long_about = None)]
pub struct Config {
    /// Address for MQTT over TCP.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:1883")]
    pub tcp: SocketAddr,

    /// Address for HTTP: the dashboard at `/` and MQTT over WebSocket at `/mqtt`.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub http: SocketAddr,

    /// Folder holding the built dashboard (`trunk build` writes `dist/`).
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub dashboard_dir: PathBuf,

    /// Largest packet accepted from a client, in bytes (fixed header included).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_packet_size: u32,

    /// Seconds a new connection has to send CONNECT before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub connect_timeout: u64,

    /// Largest keepalive (seconds) a client may ask for. MQTT 5 clients asking
    /// for more (or 0) get this as Server Keep Alive; 3.1.1 clients asking for
    /// more are refused.
    #[arg(long, value_name = "SECONDS", default_value_t = 65535)]
    pub max_keepalive: u16,

    /// Seconds between two publications of the `$SYS/broker/...` tree; 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub sys_interval: u64,

    /// Folder of the on-disk store (retained messages, persistent sessions, queues).
    #[arg(long, value_name = "DIR", default_value = "kite-data")]
    pub data_dir: PathBuf,

    /// When an acknowledged message is on disk: `always` (commit before every
    /// acknowledgement), `batch` (group commit within a few milliseconds, then
    /// acknowledge), `none` (memory only, nothing survives a restart).
    #[arg(long, value_name = "MODE", value_enum, default_value_t = Durability::Batch)]
    pub durability: Durability,

    /// Bytes of payload queued per client before further messages to it are dropped.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_queued_bytes: u64,

    /// Messages queued per client before further QoS 0 messages to it are dropped.
    #[arg(long, value_name = "COUNT", default_value_t = 1000)]
    pub max_queued_messages: usize,
}

/// How the store commits (see `--durability`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Always,
    Batch,
    None,
}

impl Default for Config {
    fn default() -> Config {
        Config::parse_from(["kite-server"])
    }
}
