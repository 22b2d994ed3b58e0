//! What a benchmark step does ([`Traffic`], [`Storm`], [`Idle`],
//! [`Connections`]) and what it measured ([`Metrics`], [`Held`]).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::{check::Counts, link::Transport, procstat::Usage};

/// How publishers and subscribers are wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Every publisher on one topic, every subscriber on it (N → 1).
    FanIn,
    /// The same wiring, meant for 1 → N.
    FanOut,
    /// Publisher i → topic i → subscriber i.
    Pairs,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::FanIn => "fan-in",
            Shape::FanOut => "fan-out",
            Shape::Pairs => "pairs",
        }
    }
}

/// A deliberate fault, to prove the checks catch it: publisher 0 counts its
/// fourth message as sent but never sends it (`Drop`), or flips one of its
/// bytes after the checksum (`Corrupt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    Drop,
    Corrupt,
}

/// Publishers and subscribers moving checked messages through a broker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Traffic {
    pub shape: Shape,
    pub publishers: usize,
    pub subscribers: usize,
    pub qos: u8,
    /// Payload bytes (16 at least: the header).
    pub size: usize,
    pub transport: Transport,
    /// How long the publishers publish before measuring starts; messages
    /// sent then are checked but neither counted nor timed.
    pub warmup_seconds: f64,
    /// How long the publishers publish once measuring.
    pub seconds: f64,
    /// Messages per second, all publishers together; `None`: as fast as the
    /// window lets them (a throughput run).
    pub rate: Option<f64>,
    /// Subscribers keep a persistent session (clean session 0).
    pub persistent: bool,
    /// Deliveries in flight (sent, not yet received), all publishers
    /// together: bounds every broker queue, so no broker is asked to buffer
    /// without limit. Capped further at 16 MiB of payload.
    pub window: usize,
    /// Unacknowledged QoS 1/2 publishes per publisher.
    pub inflight: usize,
    /// Once the publishers are done, how long deliveries may pause before
    /// the missing ones are declared lost.
    pub quiet_seconds: f64,
    pub fault: Option<Fault>,
}

impl Traffic {
    /// A throughput run: `publishers` → `subscribers` on one topic.
    pub fn new(
        shape: Shape,
        publishers: usize,
        subscribers: usize,
        qos: u8,
        size: usize,
    ) -> Traffic {
        Traffic {
            shape,
            publishers,
            subscribers,
            qos,
            size,
            transport: Transport::Tcp,
            warmup_seconds: 0.5,
            seconds: 5.0,
            rate: None,
            persistent: false,
            window: 8192,
            inflight: 100,
            quiet_seconds: 5.0,
            fault: None,
        }
    }

    /// "fan-in 100→1 QoS 0 64 B tcp".
    pub fn label(&self) -> String {
        let mut label = format!(
            "{} {}→{} QoS {} {} {}",
            self.shape.name(),
            self.publishers,
            self.subscribers,
            self.qos,
            size_label(self.size),
            self.transport.name()
        );
        if let Some(rate) = self.rate {
            label.push_str(&format!(" @{:.0}/s", rate));
        }
        if self.persistent {
            label.push_str(" persistent");
        }
        label
    }

    /// Deliveries each message makes.
    pub fn fanout(&self) -> usize {
        match self.shape {
            Shape::Pairs => 1,
            Shape::FanIn | Shape::FanOut => self.subscribers,
        }
    }
}

/// "64 B", "16 KiB".
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Connections opened and closed as fast as the broker takes them:
/// TCP connect, CONNECT, CONNACK, DISCONNECT.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Storm {
    pub seconds: f64,
    /// Connections being opened at once.
    pub concurrency: usize,
    /// Stop after this many, whatever the time.
    pub max_connections: u64,
}

/// Connections opened (each with one subscription) and held open.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Idle {
    pub connections: usize,
    pub hold_seconds: f64,
    pub concurrency: usize,
}

/// Idle connections held in waves from several loopback source addresses,
/// each subscribed to its own topic and a shared one, measured at
/// milestones (`kite-bench connections`, compare's `connections` step).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connections {
    /// Connections to reach (capped by the broker's open-file limit).
    pub target: usize,
    /// Counts to stop and measure at on the way (the target is always one).
    pub milestones: Vec<usize>,
    /// Connections being opened at once, all worker processes together.
    pub concurrency: usize,
    /// Stop a broker whose RSS passes this: beyond it the run says nothing
    /// new and starves the machine.
    pub rss_cap_mib: u64,
}

impl Connections {
    /// "up to 1,000,000 idle connections, …".
    pub fn label(&self) -> String {
        format!(
            "up to {} idle connections, each on its own topic and a shared one",
            crate::numbers::thousands(self.target as f64)
        )
    }
}

/// The figures at one milestone of a [`Connections`] run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Milestone {
    pub connections: usize,
    pub broker_rss_kib: u64,
    /// The broker's anonymous resident memory (`RssAnon`).
    #[serde(default)]
    pub broker_anon_kib: u64,
    /// (anonymous RSS now − anonymous RSS before the first connection) /
    /// connections: what the connections cost, without the program's code
    /// pages (see [`crate::procstat::rss_and_anon_kib`]).
    pub bytes_per_connection: f64,
    /// The same from `VmRSS`, code pages and all.
    #[serde(default)]
    pub rss_bytes_per_connection: f64,
    /// TCP sockets in use and their memory, machine-wide (`/proc/net/sockstat`).
    pub tcp_sockets: u64,
    pub tcp_memory_kib: u64,
    /// Connections opened per second since the previous milestone.
    pub connects_per_s: f64,
    /// The idle broker's CPU, in cores, over two seconds.
    pub idle_cores: f64,
    /// One QoS 0 message to the shared topic: how long until every
    /// connection had it, and how many did.
    pub broadcast_ms: f64,
    pub broadcast_delivered: usize,
    /// Every connection sends PINGREQ: how long until all PINGRESPs came.
    pub ping_sweep_ms: f64,
    pub pongs: usize,
    /// Broker RSS right after the broadcast and the ping sweep: every
    /// connection has just been woken. (`broker_rss_kib` is read before
    /// them, so from the second milestone on it follows the previous ones'.)
    #[serde(default)]
    pub active_rss_kib: u64,
    /// Broker RSS 2 s after the sweeps, once every connection is quiet
    /// again: what the broker keeps of the burst.
    #[serde(default)]
    pub settled_rss_kib: u64,
}

/// What a [`Connections`] run found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Held {
    pub milestones: Vec<Milestone>,
    /// The target asked for, and the one run after the open-file limits.
    pub asked: usize,
    pub target: usize,
    /// Why the target is lower than asked, if it is.
    pub capped: Option<String>,
    /// Why it stopped before the target, if it did.
    pub stopped: Option<String>,
    /// The broker's open-file limit, and each client worker's.
    pub broker_fd_limit: u64,
    pub worker_fd_limit: u64,
    /// Client worker processes (each holds its share of the connections).
    pub workers: usize,
    /// Source addresses the connections came from.
    pub sources: usize,
}

/// Latency percentiles, µs.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Option<Percentiles> {
        (!histogram.is_empty()).then(|| Percentiles {
            p50: histogram.value_at_quantile(0.5) as f64,
            p90: histogram.value_at_quantile(0.9) as f64,
            p99: histogram.value_at_quantile(0.99) as f64,
            p999: histogram.value_at_quantile(0.999) as f64,
            max: histogram.max() as f64,
            mean: histogram.mean(),
        })
    }
}

/// Broker memory with many idle connections.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct IdleMemory {
    pub connections: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub bytes_per_connection: f64,
    /// Broker CPU while the connections sat idle, in cores.
    pub idle_cores: f64,
    /// Connections that still answered PINGREQ at the end.
    pub alive: usize,
}

/// What one step measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// From the end of the warm-up to the last delivery (or the end of the storm).
    pub seconds: f64,
    pub sent: u64,
    /// Messages received intact, warm-up included (connections, for a storm).
    pub delivered: u64,
    pub msgs_per_s: f64,
    /// Payload megabytes (10^6) per second delivered.
    pub mb_per_s: f64,
    pub latency_us: Option<Percentiles>,
    pub counts: Option<Counts>,
    /// The broker's CPU, per delivered message (a bridge run: the bridging
    /// broker's, the one the publishers connect to).
    pub broker: Usage,
    /// A bridge run: the far broker's CPU, where the subscribers are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub far: Option<Usage>,
    /// The load generator's own CPU: its headroom.
    pub bench: Usage,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    pub connects_per_s: Option<f64>,
    pub idle: Option<IdleMemory>,
    /// A [`Connections`] run: every milestone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    /// Set when the arrival checks failed (lost, corrupt, …) or a step
    /// could not finish.
    pub problem: Option<String>,
}

impl Metrics {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}
