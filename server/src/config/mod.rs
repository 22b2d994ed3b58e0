//! Command-line flags. The flag names are a contract: tests, `make run` and
//! other tools start the broker with them.

pub mod bridge;
pub mod file;

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

    /// Seconds a client may take no data while the broker writes to it (a
    /// subscriber that stopped reading) before it is closed; 0 waits forever.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub write_timeout: u64,

    /// Milliseconds a quiet MQTT-over-TCP connection keeps its task. After
    /// that it lies dormant (no task, no buffers) until its socket, its queue,
    /// a takeover or its keepalive wakes it; 0 keeps every task.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub dormant_after: u64,

    /// Largest keepalive (seconds) a client may ask for. MQTT 5 clients asking
    /// for more (or 0) get this as Server Keep Alive; 3.1.1 clients asking for
    /// more are refused.
    #[arg(long, value_name = "SECONDS", default_value_t = 65535)]
    pub max_keepalive: u16,

    /// A JSON file of alarm rules, `{"<rule-id>": {rule}, ...}`, published as
    /// retained `$kite/alarms/rules/<rule-id>` at start-up (replacing stored ones).
    #[arg(long, value_name = "FILE")]
    pub alarm_rules: Option<PathBuf>,

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

    /// Bytes (payload and topic) queued per client before further messages to
    /// it are dropped; counted in `messages/dropped` and `limits/queued bytes dropped`.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_queued_bytes: u64,

    /// Messages queued per client before further messages to it are dropped;
    /// counted in `messages/dropped`.
    #[arg(long, value_name = "COUNT", default_value_t = 1000)]
    pub max_queued_messages: usize,

    /// A TOML file holding any of these settings under the flag's name with
    /// `_` (`max_connections = 100`); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Password file: `user:$argon2id$...` lines (`kite-server passwd FILE USER`
    /// adds users). Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Allow clients without credentials. Unset: allowed only on listeners
    /// bound to a loopback address.
    #[arg(long, value_name = "BOOL")]
    pub allow_anonymous: Option<bool>,

    /// ACL file in Mosquitto's form (`user`, `topic read|write|readwrite|deny`,
    /// `pattern` with %c and %u). Reloaded on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub acl_file: Option<PathBuf>,

    /// Address for MQTT over TLS (usually port 8883); needs --cert and --key.
    #[arg(long, value_name = "ADDR")]
    pub tls: Option<SocketAddr>,

    /// Server certificate chain (PEM). Also turns the HTTP listener into HTTPS/WSS.
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates are verified against.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,

    /// Refuse TLS clients without a certificate signed by --client-ca.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub require_certificate: bool,

    /// Use the common name of a verified client certificate as the user name
    /// (no password needed).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", default_value_t = false)]
    pub use_identity_as_username: bool,

    /// Network connections open at once (MQTT over TCP, TLS and WebSocket); 0: no limit.
    #[arg(long, value_name = "COUNT", default_value_t = 0)]
    pub max_connections: usize,

    /// QoS 1/2 messages in flight per client in each direction: our outgoing
    /// window, and the Receive Maximum we announce.
    #[arg(long, value_name = "COUNT", default_value_t = 1024, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_inflight: u16,

    /// PUBLISH packets per second a client may send (bursts of one second);
    /// 0: no limit. v5 QoS 1/2 over it: PUBACK/PUBREC 0x97; v5 QoS 0:
    /// DISCONNECT 0x96; 3.1.1: the connection is throttled.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 0.0, value_parser = parse_rate)]
    pub max_publish_rate: f64,

    /// Levels (`a/b/c` has 3) a topic name or filter may have: in a PUBLISH,
    /// a SUBSCRIBE, a will or a retained message; 1 to 1024. A deeper
    /// filter gets SUBACK 0x8F (3.1.1: 0x80), a deeper PUBLISH 0x90.
    // Not unlimited: the subscription tree is walked, pruned and dropped
    // recursively, and 65,536 levels overflowed a worker's stack.
    #[arg(long, value_name = "COUNT", default_value_t = 128, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_topic_levels: u16,

    /// Keep a history of device measurements and events, answered on
    /// `$kite/history/query` and `GET /api/history/...`; `false` turns it off.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub history: bool,

    /// How long the history keeps events and 15-minute buckets (`90m`,
    /// `24h`, `7d`). Minute buckets are kept 48 hours and raw readings 2
    /// hours, or this long if it is shorter.
    #[arg(long, value_name = "SPAN", default_value = "7d", value_parser = parse_span)]
    pub history_retention: HistorySpan,

    /// The most the history's file may hold (`512MiB`, `2GiB`, or bytes);
    /// past it the finest tiers shrink first (raw, then minute buckets).
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    pub history_max_bytes: u64,

    /// Join a cluster: the NATS servers to connect to
    /// (`nats://127.0.0.1:4222[,nats://…]`). Unset: a single node.
    #[arg(long, value_name = "URLS", value_delimiter = ',')]
    pub cluster: Vec<String>,

    /// This node's name in the cluster (unique per node); unset: the host
    /// name and the MQTT port.
    #[arg(long, value_name = "NAME")]
    pub node_id: Option<String>,

    /// With `--cluster`, wait for NATS at start instead of exiting when it
    /// cannot be reached.
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set)]
    pub cluster_wait: bool,

    /// The `[[bridge]]` tables of the configuration file (no flag).
    #[arg(skip)]
    pub bridges: Vec<bridge::BridgeConfig>,

    #[command(subcommand)]
    pub command: Option<Command>,
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

/// A span of time in milliseconds, as `--history-retention` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySpan(pub u64);

/// `90s`, `15m`, `24h`, `7d`: at least a minute.
pub fn parse_span(text: &str) -> Result<HistorySpan, String> {
    match kite_convention::history::parse_span(text.trim()) {
        Some(ms) if ms >= 60_000 => Ok(HistorySpan(ms)),
        Some(_) => Err("must be at least a minute".into()),
        None => Err("a number with s, m, h or d (e.g. 7d, 24h)".into()),
    }
}

/// `1GiB`, `512MiB`, `64KiB`, `1GB`, or a number of bytes.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 1GiB, 512MiB or 1000000"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown unit {other:?}: B, KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    number
        .checked_mul(scale)
        .filter(|&bytes| bytes >= 1 << 20)
        .ok_or_else(|| "must be between 1MiB and 16EiB".into())
}

/// `--max-publish-rate`: a finite number of messages per second, 0 or more.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        Ok(_) => Err("must be a number of messages per second, 0 or more".into()),
        Err(err) => Err(err.to_string()),
    }
}

/// `kite-server passwd`: add, update or delete a user in a password file.
#[derive(clap::Args, Debug, Clone)]
pub struct PasswdArgs {
    /// The password file; created (mode 0600) if it does not exist.
    pub file: PathBuf,
    /// The user to add or update.
    pub user: String,
    /// Read the password from standard input (its first line) instead of the terminal.
    #[arg(long)]
    pub password_stdin: bool,
    /// Delete the user instead.
    #[arg(long, short = 'D')]
    pub delete: bool,
}

/// `kite-server import-mosquitto`: translate a mosquitto.conf.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportMosquittoArgs {
    /// The Mosquitto configuration file (mosquitto.conf).
    pub file: PathBuf,
}

/// The subcommands of `kite-server`.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum Command {
    /// Add or update a user in a password file (argon2id), like mosquitto_passwd.
    Passwd(PasswdArgs),
    /// Print the Kite TOML (for --config) equivalent to a mosquitto.conf, with a
    /// comment on every line it could not translate.
    ImportMosquitto(ImportMosquittoArgs),
}
