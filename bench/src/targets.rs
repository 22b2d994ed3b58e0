//! The targets, checked against a comparison's cells: each a
//! figure of Kite's beside its peers', the ratio, the goal and whether it
//! was met.

use serde::{Deserialize, Serialize};

use crate::{
    brokers::BrokerKind,
    compare::{cell, Cell},
    many_step,
    scenario::Metrics,
};

/// One target of the issue, checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetCheck {
    pub name: String,
    pub unit: String,
    pub kite: Option<f64>,
    pub mosquitto: Option<f64>,
    pub rumqttd: Option<f64>,
    pub vs_mosquitto: Option<f64>,
    pub vs_rumqttd: Option<f64>,
    pub goal: String,
    /// `None`: could not be decided (a run failed or a broker was left out).
    pub met: Option<bool>,
}

const PEERS: [BrokerKind; 3] = [BrokerKind::Kite, BrokerKind::Mosquitto, BrokerKind::Rumqttd];

/// The metrics of a cell that passed its checks.
pub(crate) fn good<'a>(cells: &'a [Cell], id: &str, broker: BrokerKind) -> Option<&'a Metrics> {
    cell(cells, id, broker)
        .filter(|c| c.failure.is_none())
        .and_then(|c| c.metrics.as_ref())
}

fn check(
    cells: &[Cell],
    name: &str,
    unit: &str,
    goal: &str,
    value: impl Fn(BrokerKind) -> Option<f64>,
    met: impl Fn(f64, Option<f64>, Option<f64>) -> Option<bool>,
) -> TargetCheck {
    let _ = cells;
    let [kite, mosquitto, rumqttd] = PEERS.map(&value);
    let ratio = |peer: Option<f64>| match (kite, peer) {
        (Some(k), Some(p)) if p > 0.0 => Some(k / p),
        _ => None,
    };
    TargetCheck {
        name: name.into(),
        unit: unit.into(),
        kite,
        mosquitto,
        rumqttd,
        vs_mosquitto: ratio(mosquitto),
        vs_rumqttd: ratio(rumqttd),
        goal: goal.into(),
        met: kite.and_then(|k| met(k, mosquitto, rumqttd)),
    }
}

/// The targets for kite-server, from the cells of one run.
pub fn targets(cells: &[Cell]) -> Vec<TargetCheck> {
    let rate = |id: &'static str| move |b| good(cells, id, b).map(|m| m.msgs_per_s);
    let cpu = |id: &'static str| move |b| good(cells, id, b).map(|m| m.broker.cpu_us_per_unit);
    let idle_bytes = |id: &'static str| {
        move |b| good(cells, id, b).and_then(|m| m.idle.map(|i| i.bytes_per_connection))
    };
    let at_least = |vs_m: f64, vs_r: Option<f64>| {
        move |k: f64, m: Option<f64>, r: Option<f64>| {
            let m_ok = m.map(|m| k >= vs_m * m)?;
            let r_ok = match (vs_r, r) {
                (Some(x), Some(r)) => k >= x * r,
                (Some(_), None) => return None,
                (None, _) => true,
            };
            Some(m_ok && r_ok)
        }
    };
    let leaner = |k: f64, m: Option<f64>, r: Option<f64>| {
        let best = [m, r].into_iter().flatten().min_by(f64::total_cmp)?;
        Some(k <= best)
    };
    let mut out = vec![
        check(
            cells,
            "fan-in 100→1, 64 B, QoS 0: throughput",
            "msg/s",
            "≥ 1.5× mosquitto and ≥ rumqttd",
            rate("fan-in-q0"),
            at_least(1.5, Some(1.0)),
        ),
        check(
            cells,
            "fan-in 100→1, 64 B, QoS 1: throughput",
            "msg/s",
            "≥ 1.5× mosquitto and ≥ rumqttd",
            rate("fan-in-q1"),
            at_least(1.5, Some(1.0)),
        ),
        check(
            cells,
            "fan-out 1→1000, 64 B, QoS 0: throughput",
            "msg/s",
            "≥ 2× mosquitto",
            rate("fan-out-q0"),
            at_least(2.0, None),
        ),
        check(
            cells,
            "broker CPU per message, fan-in QoS 0",
            "µs/msg",
            "≤ the leaner peer",
            cpu("fan-in-q0"),
            leaner,
        ),
        check(
            cells,
            "broker CPU per message, fan-in QoS 1",
            "µs/msg",
            "≤ the leaner peer",
            cpu("fan-in-q1"),
            leaner,
        ),
        check(
            cells,
            "broker CPU per message, 4× mosquitto_pub -l QoS 1 (small unpipelined clients)",
            "µs/msg",
            "≤ 0.7× rumqttd",
            cpu("small-clients-q1"),
            |k, _, r| r.map(|r| k <= 0.7 * r),
        ),
        check(
            cells,
            "p99 latency at ½ Mosquitto's peak, fan-in QoS 0",
            "µs",
            "≤ mosquitto",
            |b| good(cells, "latency-q0", b).and_then(|m| m.latency_us.map(|l| l.p99)),
            |k, m, _| m.map(|m| k <= m),
        ),
        check(
            cells,
            "RSS per idle connection at 10,000",
            "B",
            "≤ mosquitto",
            idle_bytes("idle-10k"),
            |k, m, _| m.map(|m| k <= m),
        ),
        check(
            cells,
            "anonymous RSS per idle connection at the most connections held",
            "B",
            "≤ mosquitto",
            idle_bytes(many_step::ID),
            |k, m, _| m.map(|m| k <= m),
        ),
        check(
            cells,
            "bridge QoS 1 to a far Mosquitto, 64 B: throughput",
            "msg/s",
            "≥ mosquitto's bridge",
            rate("bridge-q1"),
            at_least(1.0, None),
        ),
        check(
            cells,
            "bridging broker CPU per message, bridge QoS 1",
            "µs/msg",
            "≤ mosquitto's bridge",
            cpu("bridge-q1"),
            |k, m, _| m.map(|m| k <= m),
        ),
    ];
    // WebSocket: each broker's WS throughput over its own TCP throughput.
    let ws = |b| {
        Some(good(cells, "ws-fan-in-q0", b)?.msgs_per_s / good(cells, "fan-in-q0", b)?.msgs_per_s)
    };
    let mut ws_check = check(
        cells,
        "WebSocket ÷ TCP throughput, fan-in QoS 0",
        "×",
        "kite ≥ 0.8",
        ws,
        |k, _, _| Some(k >= 0.8),
    );
    ws_check.vs_mosquitto = None;
    ws_check.vs_rumqttd = None;
    out.push(ws_check);
    // Headroom: the load generator must not be what limits the broker.
    let bench = |b| good(cells, "fan-in-q0", b).map(|m| m.bench.cores);
    let broker_cores = good(cells, "fan-in-q0", BrokerKind::Kite).map(|m| m.broker.cores);
    let mut headroom = check(
        cells,
        "load generator CPU during fan-in QoS 0 (headroom)",
        "cores",
        "< 1 core and < the broker's cores",
        bench,
        |k, _, _| Some(k < 1.0 && broker_cores.is_some_and(|b| k < b)),
    );
    headroom.vs_mosquitto = None;
    headroom.vs_rumqttd = None;
    out.push(headroom);
    out
}
