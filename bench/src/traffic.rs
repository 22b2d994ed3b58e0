//! Message runs: publishers and subscribers through one broker, every
//! arrival checked, end-to-end latency recorded.
//!
//! Flow control: each publisher may have at most a window of deliveries in
//! flight (sent, not yet received by every subscriber it reaches). A
//! throughput run so measures the rate a broker sustains with bounded
//! queues, instead of how much it can buffer; at QoS 0 a broker that drops
//! messages under that bounded load is caught by the checks.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::SeqCst},
        Arc,
    },
    time::Duration,
};

use futures_util::{stream, StreamExt, TryStreamExt};
use mqtt::{client::ClientEvent, QoS};
use tokio::{
    sync::{watch, Notify},
    time::{interval, sleep, sleep_until, Instant},
};

use crate::{
    check::{histogram, Checker, Counts},
    error::BenchError,
    link::{client_options, Endpoint, Link},
    payload::{PayloadWriter, HEADER},
    procstat::{self, Meter},
    scenario::{Fault, Metrics, Percentiles, Shape, Traffic},
};

/// A broker to load: where it listens, and its process for `/proc` readings.
#[derive(Clone, Debug)]
pub struct Target {
    pub endpoint: Endpoint,
    pub pid: Option<u32>,
}

/// A bridge run's far side: the subscribers connect there instead of to
/// the publishers' broker, on topics under `root` (what the bridge carries).
#[derive(Clone, Debug)]
pub struct Far {
    pub target: Target,
    pub root: String,
}

/// Where a run's clients connect and whose CPU it meters, in general: a
/// cluster run spreads publishers over some nodes and subscribers over
/// others, and sums the CPU of every process of the system.
#[derive(Clone, Debug)]
pub struct Placement {
    /// Publisher `i` connects to `publish[i % len]`.
    pub publish: Vec<Endpoint>,
    /// Subscriber `j` connects to `subscribe[j % len]`.
    pub subscribe: Vec<Endpoint>,
    /// The processes whose CPU, summed, is [`Metrics::broker`] (and whose
    /// RSS, summed, is [`Metrics::rss_kib`]).
    pub pids: Vec<u32>,
    /// A bridge run's far broker: its CPU is [`Metrics::far`].
    pub far_pid: Option<u32>,
    /// The first topic level.
    pub root: String,
    /// How long to wait once every subscriber has its SUBACK, before the
    /// publishers connect: subscription interest crossing from one server
    /// of a cluster to the others (NATS routes) is asynchronous.
    pub settle: Duration,
}

impl Placement {
    /// Everything on `target`; the subscribers on `far` when given.
    pub fn of(target: &Target, far: Option<&Far>) -> Placement {
        Placement {
            publish: vec![target.endpoint.clone()],
            subscribe: vec![far.map_or(&target.endpoint, |f| &f.target.endpoint).clone()],
            pids: target.pid.into_iter().collect(),
            far_pid: far.and_then(|f| f.target.pid),
            root: far.map_or("kb", |f| f.root.as_str()).to_string(),
            settle: Duration::ZERO,
        }
    }
}

/// Deliveries so far in the current run, for the progress display.
pub type Live = Arc<AtomicU64>;

/// Messages a publisher writes at once before yielding.
const BURST: u64 = 64;
/// Payload bytes in flight at most, whatever the window says.
const WINDOW_BYTES: usize = 16 << 20;
/// How long publishers wait for their last acknowledgements.
const DRAIN: Duration = Duration::from_secs(10);
/// Connections opened at once while setting up.
const CONNECTING: usize = 64;

/// The state publishers and subscribers share.
struct Flow {
    epoch: Instant,
    /// Deliveries each message makes.
    per_msg: u64,
    /// Deliveries in flight allowed per publisher.
    window: u64,
    sent: Vec<AtomicU64>,
    delivered: Vec<AtomicU64>,
    waiting: Vec<AtomicBool>,
    wake: Vec<Notify>,
    live: Live,
    last_arrival_us: AtomicU64,
    /// Messages sent from then on are timed (the warm-up is over).
    measure_from_us: AtomicU64,
}

impl Flow {
    fn outstanding(&self, publisher: usize) -> u64 {
        (self.sent[publisher].load(SeqCst) * self.per_msg)
            .saturating_sub(self.delivered[publisher].load(SeqCst))
    }

    /// `n` deliveries of `publisher` arrived: wake it once half its window is free.
    fn credit(&self, publisher: usize, n: u64) {
        self.delivered[publisher].fetch_add(n, SeqCst);
        if self.waiting[publisher].load(SeqCst) && self.outstanding(publisher) <= self.window / 2 {
            self.waiting[publisher].store(false, SeqCst);
            self.wake[publisher].notify_one();
        }
    }
}

fn check_spec(spec: &Traffic) -> Result<(), BenchError> {
    let usage = |why: &str| Err(BenchError::Usage(why.to_string()));
    if spec.qos > 2 {
        return usage("QoS is 0, 1 or 2");
    }
    if spec.publishers == 0 || spec.subscribers == 0 {
        return usage("a run needs at least one publisher and one subscriber");
    }
    if spec.publishers > usize::from(u16::MAX) {
        return usage("at most 65535 publishers");
    }
    if spec.shape == Shape::Pairs && spec.publishers != spec.subscribers {
        return usage("pairs need as many subscribers as publishers");
    }
    if spec.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return usage("the rate must be positive");
    }
    Ok(())
}

/// A tag no earlier run used, so stale messages can never match.
pub fn unique_tag() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{:x}-{:x}-{}",
        std::process::id(),
        nanos,
        RUNS.fetch_add(1, SeqCst)
    )
}

/// Run `spec` against `target`; `live` counts deliveries as they happen.
/// A run whose checks fail returns `Ok` with [`Metrics::problem`] set.
pub async fn run(target: &Target, spec: &Traffic, live: Live) -> Result<Metrics, BenchError> {
    run_to(target, None, spec, live).await
}

/// [`run`], the subscribers on `far` when given (a bridge run: `target` is
/// the bridging broker, whose CPU is [`Metrics::broker`]; the far one's is
/// [`Metrics::far`]).
pub async fn run_to(
    target: &Target,
    far: Option<&Far>,
    spec: &Traffic,
    live: Live,
) -> Result<Metrics, BenchError> {
    run_placed(&Placement::of(target, far), spec, live).await
}

/// [`run`] with clients placed as `placement` says.
pub async fn run_placed(
    placement: &Placement,
    spec: &Traffic,
    live: Live,
) -> Result<Metrics, BenchError> {
    check_spec(spec)?;
    if placement.publish.is_empty() || placement.subscribe.is_empty() {
        return Err(BenchError::Usage(
            "a placement needs somewhere to publish and to subscribe".into(),
        ));
    }
    let size = spec.size.max(HEADER);
    let qos = QoS::from_u8(spec.qos).unwrap_or(QoS::AtMostOnce);
    let epoch = Instant::now();
    let tag = unique_tag();
    let root = placement.root.as_str();
    let topic = |i: usize| match spec.shape {
        Shape::Pairs => format!("{root}/{tag}/p/{i}"),
        Shape::FanIn | Shape::FanOut => format!("{root}/{tag}/all"),
    };
    let per_msg = spec.fanout() as u64;
    let total_window = spec.window.min(WINDOW_BYTES / size).max(1) as u64;
    let window = (total_window / spec.publishers as u64).max(2 * per_msg);
    live.store(0, SeqCst);
    let flow = Arc::new(Flow {
        epoch,
        per_msg,
        window,
        sent: (0..spec.publishers).map(|_| AtomicU64::new(0)).collect(),
        delivered: (0..spec.publishers).map(|_| AtomicU64::new(0)).collect(),
        waiting: (0..spec.publishers)
            .map(|_| AtomicBool::new(false))
            .collect(),
        wake: (0..spec.publishers).map(|_| Notify::new()).collect(),
        live,
        last_arrival_us: AtomicU64::new(0),
        measure_from_us: AtomicU64::new(0),
    });

    // Subscribers first, so nothing is published to nobody.
    let subscribers: Vec<Link> = stream::iter(0..spec.subscribers)
        .map(|j| {
            let filter = topic(j);
            let sub_endpoint = &placement.subscribe[j % placement.subscribe.len()];
            let options = client_options(format!("kb-{tag}-s{j}"), !spec.persistent);
            async move {
                let mut link = Link::open(sub_endpoint, spec.transport, options, epoch).await?;
                link.subscribe(&[&filter], qos).await?;
                Ok::<_, BenchError>(link)
            }
        })
        .buffered(CONNECTING)
        .try_collect()
        .await?;
    sleep(placement.settle).await;
    let publishers: Vec<Link> = stream::iter(0..spec.publishers)
        .map(|i| {
            let options = client_options(format!("kb-{tag}-p{i}"), true);
            let endpoint = &placement.publish[i % placement.publish.len()];
            Link::open(endpoint, spec.transport, options, epoch)
        })
        .buffered(CONNECTING)
        .try_collect()
        .await?;

    let (start_tx, start_rx) = watch::channel(None);
    let (stop_tx, stop_rx) = watch::channel(false);
    let spec_arc = Arc::new(spec.clone());
    let sub_tasks: Vec<_> = subscribers
        .into_iter()
        .enumerate()
        .map(|(j, link)| {
            let range = match spec.shape {
                Shape::Pairs => j as u16..j as u16 + 1,
                Shape::FanIn | Shape::FanOut => 0..spec.publishers as u16,
            };
            let checker = Checker::new(range, size);
            tokio::spawn(subscriber(link, flow.clone(), checker, stop_rx.clone()))
        })
        .collect();
    let pub_tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, link)| {
            let job = Publisher {
                index: i,
                topic: topic(i),
                qos,
                spec: spec_arc.clone(),
                flow: flow.clone(),
            };
            tokio::spawn(job.run(link, start_rx.clone()))
        })
        .collect();

    let warmup = Duration::from_secs_f64(spec.warmup_seconds.max(0.0));
    let t0 = Instant::now();
    let t0_us = epoch.elapsed().as_micros() as u64;
    flow.measure_from_us
        .store(t0_us + warmup.as_micros() as u64, SeqCst);
    let _ = start_tx.send(Some(t0));
    sleep_until(t0 + warmup).await;
    let broker_meter = Meter::start_all(&placement.pids);
    let far_meter = placement.far_pid.map(|pid| Meter::start(Some(pid)));
    let bench_meter = Meter::start(Some(std::process::id()));
    let base = flow.live.load(SeqCst);
    let t1 = Instant::now();
    let t1_us = epoch.elapsed().as_micros() as u64;

    let mut problem: Option<String> = None;
    let mut links = Vec::new();
    for task in pub_tasks {
        match task.await? {
            Ok(link) => links.push(link),
            Err(err) => {
                problem.get_or_insert(format!("publisher: {err}"));
            }
        }
    }
    let sent: Vec<u64> = flow.sent.iter().map(|s| s.load(SeqCst)).collect();
    let expected: u64 = sent.iter().sum::<u64>() * per_msg;
    let quiet = Duration::from_secs_f64(spec.quiet_seconds);
    let mut last = (flow.live.load(SeqCst), Instant::now());
    loop {
        let got = flow.live.load(SeqCst);
        if got >= expected {
            break;
        }
        if got != last.0 {
            last = (got, Instant::now());
        } else if last.1.elapsed() > quiet {
            break;
        }
        sleep(Duration::from_millis(2)).await;
    }
    let measured = flow.live.load(SeqCst).saturating_sub(base);
    let broker = broker_meter.stop(measured);
    let far_usage = far_meter.map(|m| m.stop(measured));
    let bench = bench_meter.stop(measured);
    let (rss_kib, peak_rss_kib) = placement.pids.iter().fold((0, 0), |(rss, peak), &pid| {
        (
            rss + procstat::rss_kib(pid).unwrap_or(0),
            peak + procstat::peak_rss_kib(pid).unwrap_or(0),
        )
    });
    let _ = stop_tx.send(true);

    let mut counts = Counts::default();
    let mut latency = histogram();
    for task in sub_tasks {
        match task.await? {
            Ok((link, checker)) => {
                let (c, h) = checker.finish(&sent);
                counts.add(&c);
                let _ = latency.add(&h);
                links.push(link);
            }
            Err(err) => {
                problem.get_or_insert(format!("subscriber: {err}"));
            }
        }
    }
    stream::iter(links)
        .for_each_concurrent(CONNECTING, Link::close)
        .await;

    if !counts.is_clean() {
        problem = Some(match problem {
            Some(p) => format!("{}; {p}", counts.problems()),
            None => counts.problems(),
        });
    }
    let last_us = flow.last_arrival_us.load(SeqCst);
    let seconds = if last_us > t1_us {
        (last_us - t1_us) as f64 / 1e6
    } else {
        t1.elapsed().as_secs_f64()
    };
    let intact = counts.received - counts.corrupt - counts.misrouted;
    Ok(Metrics {
        seconds,
        sent: sent.iter().sum(),
        delivered: intact,
        msgs_per_s: measured as f64 / seconds,
        mb_per_s: (measured * size as u64) as f64 / 1e6 / seconds,
        latency_us: Percentiles::of(&latency),
        counts: Some(counts),
        broker,
        far: far_usage,
        bench,
        rss_kib,
        peak_rss_kib,
        connects_per_s: None,
        idle: None,
        held: None,
        problem,
    })
}

/// One publishing connection's job.
struct Publisher {
    index: usize,
    topic: String,
    qos: QoS,
    spec: Arc<Traffic>,
    flow: Arc<Flow>,
}

impl Publisher {
    async fn run(
        self,
        mut link: Link,
        mut start: watch::Receiver<Option<Instant>>,
    ) -> Result<Link, BenchError> {
        let t0 = match start.wait_for(Option::is_some).await {
            Ok(t0) => t0.unwrap_or_else(Instant::now),
            Err(_) => return Ok(link),
        };
        let (i, flow, spec) = (self.index, &*self.flow, &*self.spec);
        let writer = PayloadWriter::new(i as u16, spec.size);
        let deadline = t0 + Duration::from_secs_f64(spec.warmup_seconds.max(0.0) + spec.seconds);
        let drain_deadline = deadline + DRAIN;
        let rate = spec.rate.map(|r| r / spec.publishers as f64);
        let mut seq: u32 = 0;
        let mut tick = interval(Duration::from_secs(1));
        loop {
            let now = Instant::now();
            let publishing = now < deadline;
            if !publishing {
                if link.session.inflight() == 0 {
                    return Ok(link);
                }
                if now >= drain_deadline {
                    return Err(BenchError::timeout(
                        format!("{} acknowledgements", link.session.inflight()),
                        DRAIN,
                    ));
                }
            }
            let mut allowed = if publishing { BURST } else { 0 };
            let mut window_full = false;
            let mut next_due = None;
            if allowed > 0 {
                let by_window = flow.window.saturating_sub(flow.outstanding(i)) / flow.per_msg;
                window_full = by_window == 0;
                allowed = allowed.min(by_window);
                if self.qos != QoS::AtMostOnce {
                    let room = spec.inflight.saturating_sub(link.session.inflight());
                    allowed = allowed.min(room as u64);
                }
                if let Some(rate) = rate {
                    let due = ((now - t0).as_secs_f64() * rate) as u64 + 1;
                    let by_rate = due.saturating_sub(u64::from(seq));
                    if by_rate == 0 {
                        next_due = Some(t0 + Duration::from_secs_f64(f64::from(seq) / rate));
                    }
                    allowed = allowed.min(by_rate);
                }
            }
            if allowed > 0 {
                self.publish(&mut link, &writer, &mut seq, allowed)?;
                while let Some(events) = link.try_read()? {
                    check_acks(events)?;
                }
                tokio::task::yield_now().await;
                continue;
            }
            if window_full {
                flow.waiting[i].store(true, SeqCst);
                if flow.outstanding(i) + flow.per_msg <= flow.window {
                    continue;
                }
            }
            let until = next_due.unwrap_or(if publishing { deadline } else { drain_deadline });
            tokio::select! {
                events = link.read() => check_acks(events?)?,
                _ = flow.wake[i].notified(), if window_full => {},
                _ = sleep_until(until) => {},
                _ = tick.tick() => {
                    let now = link.now_ms();
                    link.session.tick(now)?;
                    link.flush();
                }
            }
        }
    }

    /// Write `count` messages, stamped now.
    fn publish(
        &self,
        link: &mut Link,
        writer: &PayloadWriter,
        seq: &mut u32,
        count: u64,
    ) -> Result<(), BenchError> {
        let sent_us = self.flow.epoch.elapsed().as_micros() as u64;
        let now_ms = link.now_ms();
        // Counted before the bytes leave, so a delivery never outruns its count.
        self.flow.sent[self.index].store(u64::from(*seq) + count, SeqCst);
        for _ in 0..count {
            let payload = writer.build(*seq, sent_us);
            let faulty = self.index == 0 && *seq == 3;
            *seq += 1;
            let payload = match self.spec.fault {
                Some(Fault::Drop) if faulty => continue,
                Some(Fault::Corrupt) if faulty => {
                    let mut bytes = payload.to_vec();
                    let last = bytes.len() - 1;
                    bytes[last] ^= 0x01;
                    bytes.into()
                }
                _ => payload,
            };
            link.session
                .publish(&self.topic, payload, self.qos, false, now_ms)?;
        }
        link.flush();
        Ok(())
    }
}

/// A publisher only expects acknowledgements (and PINGRESP).
fn check_acks(events: Vec<ClientEvent>) -> Result<(), BenchError> {
    for event in events {
        if let ClientEvent::Published { pid, reason } = event {
            if !reason.is_success() {
                return Err(BenchError::Refused(format!(
                    "publish {pid:?} acknowledged with {reason:?}"
                )));
            }
        }
    }
    Ok(())
}

async fn subscriber(
    mut link: Link,
    flow: Arc<Flow>,
    mut checker: Checker,
    mut stop: watch::Receiver<bool>,
) -> Result<(Link, Checker), BenchError> {
    let mut credits = vec![0u64; flow.sent.len()];
    let mut touched = Vec::new();
    let mut tick = interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok((link, checker)),
            events = link.read() => {
                let events = events?;
                let now_us = flow.epoch.elapsed().as_micros() as u64;
                let record_from = flow.measure_from_us.load(SeqCst);
                let mut intact = 0;
                for event in events {
                    if let ClientEvent::Message(publish) = event {
                        if let Some(stamp) = checker.arrived(&publish.payload, now_us, record_from) {
                            let p = usize::from(stamp.publisher);
                            if credits[p] == 0 {
                                touched.push(p);
                            }
                            credits[p] += 1;
                            intact += 1;
                        }
                    }
                }
                for p in touched.drain(..) {
                    flow.credit(p, std::mem::take(&mut credits[p]));
                }
                if intact > 0 {
                    flow.live.fetch_add(intact, SeqCst);
                    flow.last_arrival_us.fetch_max(now_us, SeqCst);
                }
            }
            _ = tick.tick() => {
                let now = link.now_ms();
                link.session.tick(now)?;
                link.flush();
            }
        }
    }
}
