//! The broker page's model: the `$SYS/broker/...` statistics (Mosquitto's
//! names), a time series of each, rates derived from the counters, and
//! per-client counters when the broker publishes them under
//! `$SYS/broker/clients/<client-id>/<counter>`. In a cluster, each node's
//! figures under `$SYS/brokers/<node-id>/...` go to [`Cluster`].

use std::collections::BTreeMap;

pub use kite_convention::sys::leading_number;
use kite_convention::sys::{
    BYTES_RECEIVED, BYTES_SENT, CLIENTS, MESSAGES_DROPPED, MESSAGES_RECEIVED, MESSAGES_SENT,
    PREFIX, ROOT,
};

use kite_convention::history::SeriesAnswer;

use super::cluster::Cluster;
use super::ring::{PastAnswer, Series};

/// The rate series, named as the page shows them.
pub const MESSAGES_IN_RATE: &str = "messages in/s";
pub const MESSAGES_OUT_RATE: &str = "messages out/s";
pub const BYTES_IN_RATE: &str = "bytes in/s";
pub const BYTES_OUT_RATE: &str = "bytes out/s";
pub const DROPPED_RATE: &str = "dropped/s";

/// Counters whose rate per second is charted, with their rate's name.
pub const RATES: [(&str, &str); 5] = [
    (MESSAGES_RECEIVED, MESSAGES_IN_RATE),
    (MESSAGES_SENT, MESSAGES_OUT_RATE),
    (BYTES_RECEIVED, BYTES_IN_RATE),
    (BYTES_SENT, BYTES_OUT_RATE),
    (MESSAGES_DROPPED, DROPPED_RATE),
];

/// Statistics under `clients/` that are the broker's, not a client's
/// (Kite publishes the first two, Mosquitto all of them).
const CLIENT_TOTALS: [&str; 6] = [
    "connected",
    "total",
    "disconnected",
    "maximum",
    "active",
    "inactive",
];

/// The latest `$SYS` values and their history.
#[derive(Clone, Debug, Default)]
pub struct SysStats {
    /// Statistic (path under `$SYS/broker/`, as in [`kite_convention::sys`])
    /// → latest text.
    pub values: BTreeMap<String, String>,
    /// Statistic → its numeric samples (rates under their rate name).
    pub series: BTreeMap<String, Series>,
    /// Client id → counter → value.
    pub clients: BTreeMap<String, BTreeMap<String, String>>,
    /// Counter → (ms, value) of the previous sample, for rates.
    previous: BTreeMap<String, (u64, f64)>,
    /// In a cluster, every node's figures (`$SYS/brokers/<node-id>/...`).
    pub cluster: Cluster,
}

impl SysStats {
    /// Take a `$SYS` message into account; false for other topics.
    pub fn apply(&mut self, topic: &str, payload: &[u8], now_ms: u64) -> bool {
        if self.cluster.apply(topic, payload, now_ms) {
            self.cluster.recognise_own(&self.values);
            return true;
        }
        let Some(stat) = topic.strip_prefix(PREFIX) else {
            return topic.starts_with(ROOT);
        };
        let text = String::from_utf8_lossy(payload).trim().to_owned();
        if let Some(rest) = stat.strip_prefix(CLIENTS) {
            if let Some((client, counter)) = rest.rsplit_once('/') {
                if !CLIENT_TOTALS.contains(&client) {
                    self.clients
                        .entry(client.to_owned())
                        .or_default()
                        .insert(counter.to_owned(), text);
                    return true;
                }
            }
        }
        if let Some(value) = leading_number(&text) {
            self.series
                .entry(stat.to_owned())
                .or_insert_with(Series::with_past)
                .push(now_ms, value);
            if let Some((_, rate_name)) = RATES.iter().find(|(c, _)| *c == stat) {
                if let Some((then, before)) = self.previous.insert(stat.to_owned(), (now_ms, value))
                {
                    let seconds = now_ms.saturating_sub(then) as f64 / 1000.0;
                    if seconds >= 0.2 && value >= before {
                        self.series
                            .entry((*rate_name).to_owned())
                            .or_insert_with(Series::with_past)
                            .push(now_ms, (value - before) / seconds);
                    }
                }
            }
        }
        self.values.insert(stat.to_owned(), text);
        if !self.cluster.is_empty() {
            self.cluster.recognise_own(&self.values);
        }
        true
    }

    /// Take in the history's answer about the broker's own statistics
    /// (device `$SYS`): each chart opens with its past, and the rates with
    /// theirs, derived from the counters' past as from live samples.
    /// True when a chart took points.
    pub fn merge_past(&mut self, answer: &SeriesAnswer) -> bool {
        let bucket_ms = answer.resolution.bucket_ms();
        let mut changed = false;
        let mut merge = |name: &str, points: &[(u64, f64)]| {
            changed |= self
                .series
                .entry(name.to_owned())
                .or_insert_with(Series::with_past)
                .merge_past(PastAnswer {
                    points,
                    from: answer.from,
                    to: answer.to,
                    bucket_ms,
                    background: false,
                });
        };
        for series in &answer.series {
            let points: Vec<(u64, f64)> = series.points.iter().map(|p| (p.0, p.1)).collect();
            merge(&series.measurement, &points);
            if let Some((_, rate_name)) = RATES.iter().find(|(c, _)| *c == series.measurement) {
                let rates: Vec<(u64, f64)> = points
                    .windows(2)
                    .filter_map(|w| {
                        let ((then, before), (now, value)) = (w[0], w[1]);
                        let seconds = now.saturating_sub(then) as f64 / 1000.0;
                        (seconds >= 0.2 && value >= before)
                            .then(|| (now, (value - before) / seconds))
                    })
                    .collect();
                merge(rate_name, &rates);
            }
        }
        changed
    }

    /// A statistic's latest text.
    pub fn value(&self, stat: &str) -> Option<&str> {
        self.values.get(stat).map(String::as_str)
    }

    /// A series' latest value.
    pub fn latest(&self, name: &str) -> Option<f64> {
        self.series.get(name)?.last().map(|(_, v)| v)
    }

    /// Counter names used by any client, sorted.
    pub fn client_counters(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .clients
            .values()
            .flat_map(|c| c.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    pub fn clear(&mut self) {
        *self = SysStats::default();
    }
}

/// Seconds as `3 d 4 h`, `4 h 5 min`, `5 min 6 s` or `6 s`.
pub fn format_uptime(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {s} s")
    } else {
        format!("{s} s")
    }
}

/// A count or rate with a k/M suffix: `950`, `12.3 k`, `4.56 M`.
pub fn format_si(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e9 {
        format!("{:.2} G", value / 1e9)
    } else if abs >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if abs >= 1e4 {
        format!("{:.1} k", value / 1e3)
    } else if abs >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use kite_convention::sys;

    #[test]
    fn values_series_and_rates() {
        let mut sys = SysStats::default();
        assert!(sys.apply("$SYS/broker/version", b"kite 0.1.0", 0));
        assert!(sys.apply("$SYS/broker/uptime", b"42 seconds", 0));
        assert!(sys.apply("$SYS/broker/messages/received", b"100", 1_000));
        assert!(sys.apply("$SYS/broker/messages/received", b"600", 11_000));
        assert!(!sys.apply("devices/x", b"1", 0));
        assert_eq!(sys.value(sys::VERSION), Some("kite 0.1.0"));
        assert_eq!(sys.latest(sys::UPTIME), Some(42.0));
        assert_eq!(sys.latest(MESSAGES_IN_RATE), Some(50.0));
        assert_eq!(sys.series[sys::MESSAGES_RECEIVED].len(), 2);
    }

    #[test]
    fn a_counter_reset_gives_no_negative_rate() {
        let mut sys = SysStats::default();
        sys.apply("$SYS/broker/bytes/sent", b"1000", 0);
        sys.apply("$SYS/broker/bytes/sent", b"10", 1_000);
        assert_eq!(sys.latest("bytes out/s"), None);
        sys.apply("$SYS/broker/bytes/sent", b"2010", 2_000);
        assert_eq!(sys.latest("bytes out/s"), Some(2000.0));
    }

    #[test]
    fn per_client_counters_are_tabled() {
        let mut sys = SysStats::default();
        sys.apply("$SYS/broker/clients/connected", b"3", 0);
        sys.apply("$SYS/broker/clients/sim-1/queued", b"4", 0);
        sys.apply("$SYS/broker/clients/sim-1/dropped", b"1", 0);
        sys.apply("$SYS/broker/clients/bench/x/queued", b"9", 0);
        assert_eq!(
            sys.latest(kite_convention::sys::CLIENTS_CONNECTED),
            Some(3.0)
        );
        assert_eq!(sys.clients.len(), 2);
        assert_eq!(sys.clients["sim-1"]["queued"], "4");
        assert_eq!(sys.clients["bench/x"]["queued"], "9");
        assert_eq!(sys.client_counters(), ["dropped", "queued"]);
    }

    #[test]
    fn node_figures_go_to_the_cluster_and_name_the_own_node() {
        let mut sys = SysStats::default();
        for (stat, value) in [(sys::UPTIME, "7 seconds"), (sys::MESSAGES_SENT, "12")] {
            for node in ["east", "west"] {
                let value = if node == "west" { "99" } else { value };
                assert!(sys.apply(&sys::node_topic(node, stat), value.as_bytes(), 0));
            }
        }
        assert!(sys.apply("$SYS/brokers/east/bytes/sent", b"300", 0));
        assert!(sys.values.is_empty(), "not this broker's own figures");
        assert_eq!(sys.cluster.rows(0).len(), 2);
        assert_eq!(sys.cluster.own(), None);
        sys.apply(&sys::topic(sys::UPTIME), b"7 seconds", 0);
        sys.apply(&sys::topic(sys::MESSAGES_SENT), b"12", 0);
        sys.apply(&sys::topic(sys::BYTES_SENT), b"300", 0);
        assert_eq!(sys.cluster.own(), Some("east"));
        sys.clear();
        assert!(sys.cluster.is_empty());
    }

    #[test]
    fn numbers_and_formats() {
        assert_eq!(format_uptime(42), "42 s");
        assert_eq!(format_uptime(3_725), "1 h 2 min");
        assert_eq!(format_uptime(90_061), "1 d 1 h");
        assert_eq!(format_uptime(61), "1 min 1 s");
        assert_eq!(format_si(950.0), "950");
        assert_eq!(format_si(12.34), "12.3");
        assert_eq!(format_si(12_345.0), "12.3 k");
        assert_eq!(format_si(4_560_000.0), "4.56 M");
    }

    #[test]
    fn the_charts_open_with_the_brokers_past_and_live_samples_continue_it() {
        use kite_convention::history::{Resolution, Series as Answered, SeriesAnswer};
        let answered = |measurement: &str, points: Vec<(u64, f64)>| Answered {
            device: "$SYS".into(),
            measurement: measurement.into(),
            unit: None,
            points: points.into_iter().map(|(t, v)| (t, v, v, v)).collect(),
        };
        let answer = SeriesAnswer {
            ok: true,
            resolution: Resolution::Raw,
            from: 1_000,
            to: 31_000,
            series: vec![
                answered("clients/connected", vec![(10_000, 3.0), (20_000, 4.0)]),
                answered(MESSAGES_RECEIVED, vec![(10_000, 100.0), (20_000, 300.0)]),
            ],
        };
        let mut stats = SysStats::default();
        assert!(stats.merge_past(&answer));
        let connected: Vec<(u64, f64)> = stats.series["clients/connected"].iter().collect();
        assert_eq!(connected, [(10_000, 3.0), (20_000, 4.0)]);
        assert_eq!(stats.latest(MESSAGES_IN_RATE), Some(20.0), "200 in 10 s");
        stats.apply(&format!("{PREFIX}clients/connected"), b"5", 30_000);
        let connected: Vec<(u64, f64)> = stats.series["clients/connected"].iter().collect();
        assert_eq!(connected, [(10_000, 3.0), (20_000, 4.0), (30_000, 5.0)]);
    }
}
