//! `kite-bench compare`: the same steps against each broker in turn, each
//! run on a freshly started broker, the broker order rotated from step to
//! step and round to round so slow drift (other work on the machine,
//! thermal state) spreads over all of them instead of one.

use std::{
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    bridge::Bridged,
    brokers::{Binaries, BrokerKind, Running, StartOptions},
    conns,
    error::BenchError,
    many_step,
    progress::{thousands, Progress},
    scenario::{Connections, Idle, Metrics, Shape, Storm, Traffic},
    small_clients::{self, SmallClients},
    traffic::{self, Live},
};

/// How long one run may take.
const LIMIT: Duration = Duration::from_secs(180);

/// What one step does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    Traffic(Traffic),
    /// `traffic` at `fraction` of the reference broker's throughput in step `of`.
    Latency {
        traffic: Traffic,
        fraction: f64,
        of: String,
    },
    Storm(Storm),
    Idle(Idle),
    /// Idle connections held up to a million (TCP only; [`many_step`]).
    Connections(Connections),
    /// kite-server only, started with `--durability mode`.
    Durability {
        mode: String,
        traffic: Traffic,
    },
    /// Publishers on a bridging broker (kite-server or Mosquitto), the
    /// subscribers on a far Mosquitto it bridges `bench/#` to; kite-server
    /// with `--durability durability` when given (then kite only).
    Bridge {
        traffic: Traffic,
        durability: Option<String>,
    },
    /// Debian's `mosquitto_pub -l` processes into one `mosquitto_sub`.
    SmallClients(SmallClients),
}

/// One step of the plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Planned {
    pub id: String,
    pub title: String,
    pub step: Step,
    /// Run on this broker only (durability: kite; the latency reference:
    /// mosquitto).
    pub only: Option<BrokerKind>,
    /// Start Mosquitto with `set_tcp_nodelay true`.
    pub low_latency: bool,
}

impl Planned {
    fn new(id: &str, title: String, step: Step) -> Planned {
        let low_latency = matches!(step, Step::Latency { .. });
        let only = matches!(
            step,
            Step::Durability { .. }
                | Step::Bridge {
                    durability: Some(_),
                    ..
                }
        )
        .then_some(BrokerKind::Kite);
        Planned {
            id: id.to_string(),
            title,
            step,
            only,
            low_latency,
        }
    }

    /// The brokers this step runs on, among `brokers` (a bridge step: the
    /// two that bridge, kite-server and Mosquitto).
    pub fn brokers(&self, brokers: &[BrokerKind]) -> Vec<BrokerKind> {
        let bridge = matches!(self.step, Step::Bridge { .. });
        brokers
            .iter()
            .copied()
            .filter(|b| self.only.is_none_or(|only| only == *b))
            .filter(|b| !bridge || *b != BrokerKind::Rumqttd)
            .collect()
    }

    /// The unit of the live counter.
    fn unit(&self) -> &'static str {
        match self.step {
            Step::Storm(_) | Step::Idle(_) | Step::Connections(_) => "conn",
            _ => "msg",
        }
    }
}

/// The fan-in shape of the targets: 100 publishers → 1 subscriber, 64 B.
pub fn fan_in(qos: u8) -> Traffic {
    Traffic::new(Shape::FanIn, 100, 1, qos, 64)
}

/// The steps of a run: `quick` (about a minute) or full (about ten).
pub fn plan(quick: bool) -> Vec<Planned> {
    let (warmup, seconds) = if quick { (0.5, 1.5) } else { (1.0, 2.5) };
    let timed = |mut t: Traffic| {
        t.warmup_seconds = warmup;
        t.seconds = seconds;
        t
    };
    let traffic = |id: &str, t: Traffic| {
        let t = timed(t);
        Planned::new(id, t.label(), Step::Traffic(t))
    };
    let mut steps = Vec::new();
    // Each WebSocket step right after its TCP twin: the ratio of the two
    // should not span minutes of drift.
    let over_ws = |id: &str, t: &Traffic| {
        let mut t = t.clone();
        t.transport = crate::link::Transport::Ws;
        traffic(&format!("ws-{id}"), t)
    };
    let qos_levels: &[u8] = if quick { &[0, 1] } else { &[0, 1, 2] };
    for &qos in qos_levels {
        let id = format!("fan-in-q{qos}");
        steps.push(traffic(&id, fan_in(qos)));
        if qos == 0 || (!quick && qos == 1) {
            steps.push(over_ws(&id, &fan_in(qos)));
        }
    }
    let fan_out_qos: &[u8] = if quick { &[0] } else { &[0, 1, 2] };
    for &qos in fan_out_qos {
        let id = format!("fan-out-q{qos}");
        let t = Traffic::new(Shape::FanOut, 1, 1000, qos, 64);
        steps.push(traffic(&id, t.clone()));
        if !quick && qos == 0 {
            steps.push(over_ws(&id, &t));
        }
    }
    if !quick {
        for qos in [0, 1, 2] {
            let t = Traffic::new(Shape::Pairs, 100, 100, qos, 64);
            steps.push(traffic(&format!("pairs-q{qos}"), t));
        }
        for size in [16, 1024, 16 * 1024, 64 * 1024] {
            let mut t = fan_in(0);
            t.size = size;
            steps.push(traffic(&format!("fan-in-q0-{size}"), t));
        }
    }
    let latency_qos: &[u8] = if quick { &[0] } else { &[0, 1] };
    for &qos in latency_qos {
        // The peak the latency rate is half of: Mosquitto as it runs in the
        // latency step, with TCP_NODELAY.
        let t = timed(fan_in(qos));
        let mut reference = Planned::new(
            &format!("fan-in-q{qos}-nodelay"),
            format!("{} (mosquitto with TCP_NODELAY)", t.label()),
            Step::Traffic(t.clone()),
        );
        reference.only = Some(BrokerKind::Mosquitto);
        reference.low_latency = true;
        steps.push(reference);
    }
    for &qos in latency_qos {
        let t = timed(fan_in(qos));
        steps.push(Planned::new(
            &format!("latency-q{qos}"),
            format!("latency: {} at ½ Mosquitto's peak", t.label()),
            Step::Latency {
                traffic: t,
                fraction: 0.5,
                of: format!("fan-in-q{qos}-nodelay"),
            },
        ));
    }
    // A few seconds on each broker, quick or full: more messages per
    // publisher would not fit mosquitto_pub's packet ids (see the module).
    let small = SmallClients {
        publishers: 4,
        messages: 25_000,
        qos: 1,
        size: 64,
    };
    steps.push(Planned::new(
        "small-clients-q1",
        small.label(),
        Step::SmallClients(small),
    ));
    steps.push(Planned::new(
        "storm",
        "connection storm (CONNECT, CONNACK, DISCONNECT; 32 at once)".into(),
        Step::Storm(Storm {
            seconds,
            concurrency: 32,
            max_connections: 100_000,
        }),
    ));
    steps.push(Planned::new(
        "idle-10k",
        "10,000 idle connections, one subscription each".into(),
        Step::Idle(Idle {
            connections: 10_000,
            hold_seconds: if quick { 1.0 } else { 3.0 },
            concurrency: 64,
        }),
    ));
    if !quick {
        let spec = many_step::spec();
        steps.push(Planned::new(
            many_step::ID,
            spec.label(),
            Step::Connections(spec),
        ));
    }
    for mode in ["always", "batch", "none"] {
        let mut t = timed(fan_in(1));
        t.persistent = true;
        steps.push(Planned::new(
            &format!("durability-{mode}"),
            format!("kite --durability {mode}: {}", t.label()),
            Step::Durability {
                mode: mode.into(),
                traffic: t,
            },
        ));
    }
    // Bridges: QoS 1 messages through kite-server's bridge and through
    // Mosquitto's, each to a far Mosquitto on loopback.
    let t = timed(fan_in(1));
    for durability in [None, Some("none")] {
        let (id, title) = match durability {
            None => ("bridge-q1".to_string(), "bridge"),
            Some(mode) => (
                format!("bridge-q1-durability-{mode}"),
                "bridge, kite --durability none",
            ),
        };
        steps.push(Planned::new(
            &id,
            format!("{title} → far mosquitto: {}", t.label()),
            Step::Bridge {
                traffic: t.clone(),
                durability: durability.map(str::to_string),
            },
        ));
    }
    steps
}

/// How to compare.
#[derive(Clone, Debug)]
pub struct Options {
    pub quick: bool,
    pub brokers: Vec<BrokerKind>,
    pub rounds: usize,
    /// Only the steps whose id contains one of these.
    pub only: Vec<String>,
    /// Messages per second for latency steps, instead of a fraction of a peak.
    pub latency_rate: Option<f64>,
    pub binaries: Binaries,
    /// The connections step's spec, instead of [`many_step::spec`].
    pub connections: Option<Connections>,
}

/// One run of one step on one broker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub broker: BrokerKind,
    pub round: usize,
    /// The publish rate of a latency step.
    pub rate: Option<f64>,
    pub metrics: Option<Metrics>,
    /// Why the run could not measure at all.
    pub error: Option<String>,
}

impl Record {
    pub fn failure(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.metrics.as_ref().and_then(|m| m.problem.clone()))
    }
}

/// A step on one broker over all its rounds: the median round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    pub id: String,
    pub broker: BrokerKind,
    pub rate: Option<f64>,
    /// The median round's metrics (by the step's key figure; the worse of
    /// the two middle rounds when their number is even).
    pub metrics: Option<Metrics>,
    /// Failures of any round.
    pub failure: Option<String>,
    /// Largest over smallest key figure among the rounds, minus one.
    pub spread: f64,
}

/// The figure rounds are ranked by.
pub fn key(step: &Step, metrics: &Metrics) -> f64 {
    match step {
        Step::Traffic(_) | Step::Durability { .. } | Step::Bridge { .. } => metrics.msgs_per_s,
        // Its goal is the broker's CPU per message; its rate is the clients'.
        Step::SmallClients(_) => metrics.broker.cpu_us_per_unit,
        Step::Latency { .. } => metrics.latency_us.map(|l| l.p99).unwrap_or(f64::MAX),
        Step::Storm(_) => metrics.connects_per_s.unwrap_or(0.0),
        Step::Idle(_) => metrics.idle.map(|i| i.bytes_per_connection).unwrap_or(0.0),
        Step::Connections(_) => many_step::key(metrics),
    }
}

/// Whether a larger [`key`] is better (throughput) or worse (latency, memory).
pub fn higher_is_better(step: &Step) -> bool {
    !matches!(
        step,
        Step::Latency { .. } | Step::Idle(_) | Step::Connections(_) | Step::SmallClients(_)
    )
}

/// Fold the rounds of each (step, broker) into a [`Cell`]: the median round,
/// the worse of the middle two when the count is even.
pub fn cells(plan: &[Planned], records: &[Record]) -> Vec<Cell> {
    let mut out = Vec::new();
    for planned in plan {
        let mut brokers: Vec<BrokerKind> = Vec::new();
        for r in records.iter().filter(|r| r.id == planned.id) {
            if !brokers.contains(&r.broker) {
                brokers.push(r.broker);
            }
        }
        brokers.sort_by_key(|b| *b as u8);
        for broker in brokers {
            let runs: Vec<&Record> = records
                .iter()
                .filter(|r| r.id == planned.id && r.broker == broker)
                .collect();
            let failure = runs.iter().find_map(|r| r.failure());
            let mut good: Vec<(f64, &Record)> = runs
                .iter()
                .filter_map(|r| r.metrics.as_ref().map(|m| (key(&planned.step, m), *r)))
                .collect();
            // Worst first: the median of an even count is the worse middle one.
            good.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !higher_is_better(&planned.step) {
                good.reverse();
            }
            let spread = {
                let (lo, hi) = good.iter().fold((f64::MAX, 0.0_f64), |(lo, hi), (k, _)| {
                    (lo.min(*k), hi.max(*k))
                });
                if lo > 0.0 && lo < f64::MAX {
                    hi / lo - 1.0
                } else {
                    0.0
                }
            };
            let median = good.get(good.len().saturating_sub(1) / 2).map(|(_, r)| *r);
            out.push(Cell {
                id: planned.id.clone(),
                broker,
                rate: median.and_then(|r| r.rate),
                metrics: median.and_then(|r| r.metrics.clone()),
                failure,
                spread,
            });
        }
    }
    out
}

/// The cell of `id` on `broker`.
pub fn cell<'a>(cells: &'a [Cell], id: &str, broker: BrokerKind) -> Option<&'a Cell> {
    cells.iter().find(|c| c.id == id && c.broker == broker)
}

/// The latency step's rate: `fraction` of Mosquitto's median throughput in
/// step `of` (without Mosquitto: of the slowest broker in the plain fan-in
/// step at that QoS).
fn latency_rate(plan: &[Planned], records: &[Record], of: &str, fraction: f64) -> Option<f64> {
    let cells = cells(plan, records);
    let peak = |id: &str, b| {
        cell(&cells, id, b)
            .filter(|c| c.failure.is_none())
            .and_then(|c| c.metrics.as_ref().map(|m| m.msgs_per_s))
    };
    let plain = of.trim_end_matches("-nodelay");
    peak(of, BrokerKind::Mosquitto)
        .or_else(|| {
            [BrokerKind::Kite, BrokerKind::Mosquitto, BrokerKind::Rumqttd]
                .into_iter()
                .filter_map(|b| peak(plain, b))
                .min_by(f64::total_cmp)
        })
        .map(|p| p * fraction)
}

/// One step on one freshly started broker.
async fn run_one(
    planned: &Planned,
    broker: BrokerKind,
    binaries: &Binaries,
    rate: Option<f64>,
    live: Live,
) -> Result<Metrics, BenchError> {
    if let Step::Bridge {
        traffic: t,
        durability,
    } = &planned.step
    {
        let mut bridged = Bridged::start(broker, binaries, durability.clone()).await?;
        let (target, far) = (bridged.near.target.clone(), bridged.far());
        let result = within(traffic::run_to(&target, Some(&far), t, live)).await;
        let crashed = !bridged.alive();
        return finish(broker, result, crashed, bridged.stop().await);
    }
    let options = StartOptions {
        durability: match &planned.step {
            Step::Durability { mode, .. } => Some(mode.clone()),
            _ => None,
        },
        low_latency: planned.low_latency,
        bridge_to: None,
        tcp_only: matches!(planned.step, Step::Connections(_)),
    };
    let mut running = Running::start(broker, binaries, &options).await?;
    let target = running.target.clone();
    let work = async {
        match &planned.step {
            Step::Traffic(t) | Step::Durability { traffic: t, .. } => {
                traffic::run(&target, t, live).await
            }
            Step::Latency { traffic: t, .. } => {
                let mut t = t.clone();
                t.rate = rate;
                traffic::run(&target, &t, live).await
            }
            Step::Storm(s) => conns::storm(&target, s, live).await,
            Step::Idle(i) => conns::idle(&target, i, live).await,
            Step::Connections(c) => many_step::run(&target, c, live).await,
            Step::SmallClients(s) => small_clients::run(&target, s, live).await,
            // Started as two brokers, above.
            Step::Bridge { .. } => Err(BenchError::Usage("a bridge step on one broker".into())),
        }
    };
    let result = match planned.step {
        Step::Connections(_) => within_limit(many_step::LIMIT, work).await,
        _ => within(work).await,
    };
    let crashed = !running.alive();
    let stopped = running.stop().await;
    finish(broker, result, crashed, stopped)
}

/// `work`, or a timeout error past [`LIMIT`].
async fn within(
    work: impl std::future::Future<Output = Result<Metrics, BenchError>>,
) -> Result<Metrics, BenchError> {
    within_limit(LIMIT, work).await
}

async fn within_limit(
    limit: Duration,
    work: impl std::future::Future<Output = Result<Metrics, BenchError>>,
) -> Result<Metrics, BenchError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(BenchError::timeout("the step to finish", limit)),
    }
}

/// A run's outcome once its broker stopped: a crash fails it.
fn finish(
    broker: BrokerKind,
    result: Result<Metrics, BenchError>,
    crashed: bool,
    stopped: Result<(), BenchError>,
) -> Result<Metrics, BenchError> {
    match (result, crashed) {
        (_, true) => Err(BenchError::Broker {
            broker: broker.name().into(),
            reason: "exited during the run".into(),
        }),
        (Ok(metrics), false) => stopped.map(|()| metrics),
        (Err(err), false) => Err(err),
    }
}

/// One line for the progress display.
fn summary(planned: &Planned, metrics: &Metrics) -> String {
    let checks = match &metrics.problem {
        None => "ok".to_string(),
        Some(problem) => format!("FAILED: {problem}"),
    };
    match planned.step {
        Step::Storm(_) => format!(
            "{} conn/s, broker {:.1} µs/conn; {checks}",
            thousands(metrics.connects_per_s.unwrap_or(0.0)),
            metrics.broker.cpu_us_per_unit
        ),
        Step::Connections(_) => many_step::summary(metrics),
        Step::Idle(_) => {
            let idle = metrics.idle.unwrap_or_default();
            format!(
                "{:.0} B/conn RSS ({} → {} KiB); {checks}",
                idle.bytes_per_connection, idle.rss_before_kib, idle.rss_after_kib
            )
        }
        _ => {
            let lat = metrics.latency_us.unwrap_or_default();
            format!(
                "{} msg/s, {:.1} MB/s, p50 {:.0} µs p99 {:.0} µs, broker {:.2} µs/msg ({:.2} cores), bench {:.2} cores; {checks}",
                thousands(metrics.msgs_per_s),
                metrics.mb_per_s,
                lat.p50,
                lat.p99,
                metrics.broker.cpu_us_per_unit,
                metrics.broker.cores,
                metrics.bench.cores
            )
        }
    }
}

/// Run the plan; returns the plan as run and every record.
pub async fn compare(options: &Options) -> (Vec<Planned>, Vec<Record>) {
    let mut plan: Vec<Planned> = plan(options.quick)
        .into_iter()
        .filter(|p| options.only.is_empty() || options.only.iter().any(|o| p.id.contains(o)))
        .filter(|p| !p.brokers(&options.brokers).is_empty())
        .collect();
    if let Some(spec) = &options.connections {
        set_connections_spec(&mut plan, spec);
    }
    let runs: usize = plan
        .iter()
        .map(|p| p.brokers(&options.brokers).len() * options.rounds)
        .sum();
    let live: Live = Arc::new(AtomicU64::new(0));
    let progress = Progress::new(runs, live.clone());
    let mut records: Vec<Record> = Vec::new();
    for (s, planned) in plan.iter().enumerate() {
        let brokers = planned.brokers(&options.brokers);
        let rate = match &planned.step {
            Step::Latency { fraction, of, .. } => options
                .latency_rate
                .or_else(|| latency_rate(&plan, &records, of, *fraction)),
            _ => None,
        };
        for round in 0..options.rounds {
            for k in 0..brokers.len() {
                let broker = brokers[(s + round + k) % brokers.len()];
                progress.begin(
                    format!("{:<9} {}", broker.name(), planned.title),
                    planned.unit(),
                );
                let outcome = if matches!(planned.step, Step::Latency { .. }) && rate.is_none() {
                    Err(BenchError::Usage(
                        "no peak rate to take a fraction of (run its throughput step, or give --latency-rate)".into(),
                    ))
                } else {
                    run_one(planned, broker, &options.binaries, rate, live.clone()).await
                };
                let record = match outcome {
                    Ok(metrics) => {
                        progress.end(&summary(planned, &metrics));
                        Record {
                            id: planned.id.clone(),
                            broker,
                            round,
                            rate,
                            metrics: Some(metrics),
                            error: None,
                        }
                    }
                    Err(err) => {
                        progress.end(&format!("ERROR: {err}"));
                        Record {
                            id: planned.id.clone(),
                            broker,
                            round,
                            rate,
                            metrics: None,
                            error: Some(err.to_string()),
                        }
                    }
                };
                records.push(record);
            }
        }
    }
    eprintln!(
        "kite-bench: {} runs in {:.0} s",
        records.len(),
        progress.elapsed().as_secs_f64()
    );
    (plan, records)
}

/// Run a connections spec other than [`many_step::spec`] (`kite-bench
/// connections --target …`).
fn set_connections_spec(plan: &mut [Planned], spec: &Connections) {
    for p in plan {
        if let Step::Connections(c) = &mut p.step {
            *c = spec.clone();
            p.title = spec.label();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_unique_ids_and_their_latency_references() {
        for quick in [true, false] {
            let plan = plan(quick);
            let ids: Vec<&str> = plan.iter().map(|p| p.id.as_str()).collect();
            for (i, id) in ids.iter().enumerate() {
                assert!(!ids[..i].contains(id), "{id} twice");
            }
            for p in &plan {
                if let Step::Latency { of, .. } = &p.step {
                    let at = ids.iter().position(|id| id == of).expect("reference step");
                    assert!(at < ids.iter().position(|id| *id == p.id).unwrap());
                }
            }
            for id in [
                "fan-in-q0",
                "fan-in-q1",
                "fan-out-q0",
                "ws-fan-in-q0",
                "latency-q0",
                "idle-10k",
                "small-clients-q1",
            ] {
                assert!(ids.contains(&id), "{id} missing (quick: {quick})");
            }
        }
        let all = [BrokerKind::Kite, BrokerKind::Mosquitto, BrokerKind::Rumqttd];
        let full = plan(false);
        let held = full.iter().find(|p| p.id == many_step::ID);
        assert_eq!(held.expect("connections step").brokers(&all).len(), 3);
        assert!(
            !plan(true).iter().any(|p| p.id == many_step::ID),
            "full only"
        );
        let plan = plan(true);
        let durability = plan.iter().find(|p| p.id == "durability-none").unwrap();
        assert_eq!(durability.brokers(&all), vec![BrokerKind::Kite]);
        let fan_in = plan.iter().find(|p| p.id == "fan-in-q0").unwrap();
        assert_eq!(fan_in.brokers(&all).len(), 3);
        let on = |id: &str| plan.iter().find(|p| p.id == id).unwrap().brokers(&all);
        assert_eq!(
            on("bridge-q1"),
            vec![BrokerKind::Kite, BrokerKind::Mosquitto],
            "rumqttd is not bridged"
        );
        assert_eq!(on("bridge-q1-durability-none"), vec![BrokerKind::Kite]);
        assert_eq!(on("small-clients-q1"), all.to_vec());
        let small = plan.iter().find(|p| p.id == "small-clients-q1").unwrap();
        let Step::SmallClients(s) = &small.step else {
            panic!("small-clients-q1 is {:?}", small.step)
        };
        assert!(s.messages <= small_clients::MAX_MESSAGES);
        assert!(!higher_is_better(&small.step), "ranked by CPU per message");
    }

    fn record(id: &str, broker: BrokerKind, round: usize, rate: f64) -> Record {
        Record {
            id: id.into(),
            broker,
            round,
            rate: None,
            metrics: Some(Metrics {
                msgs_per_s: rate,
                ..Metrics::default()
            }),
            error: None,
        }
    }

    #[test]
    fn cells_take_the_median_round_and_keep_failures() {
        let plan = plan(true);
        let mut records = vec![
            record("fan-in-q0", BrokerKind::Kite, 0, 300.0),
            record("fan-in-q0", BrokerKind::Kite, 1, 100.0),
            record("fan-in-q0", BrokerKind::Kite, 2, 200.0),
            record("fan-in-q0-nodelay", BrokerKind::Mosquitto, 0, 50.0),
        ];
        records[1].metrics.as_mut().unwrap().problem = Some("1 lost".into());
        let cells = cells(&plan, &records);
        let kite = cell(&cells, "fan-in-q0", BrokerKind::Kite).unwrap();
        assert_eq!(kite.metrics.as_ref().unwrap().msgs_per_s, 200.0);
        assert_eq!(kite.failure.as_deref(), Some("1 lost"));
        assert!((kite.spread - 2.0).abs() < 1e-9);
        assert_eq!(
            latency_rate(&plan, &records, "fan-in-q0-nodelay", 0.5),
            Some(25.0)
        );
    }
}
