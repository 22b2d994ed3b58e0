//! A fleet: the list of devices (generated from `--count`/`--seed` or read
//! from a scenario) and running them all on one tokio runtime, one task per
//! device, connects spread over a ramp so a thousand devices do not arrive
//! at the broker in the same millisecond.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use mqtt::Protocol;
use tokio::{sync::watch, task::JoinSet, time::Instant};

use crate::{
    device::{self, stopped, Counters, DeviceConfig},
    spec::{Convention, DeviceSpec},
    transport::Endpoint,
};

/// How `--count` devices are generated.
#[derive(Debug, Clone)]
pub struct Generate {
    pub count: u32,
    pub prefix: String,
    pub seed: u64,
    pub interval: Duration,
    /// Fraction of devices that speak Home Assistant discovery.
    pub ha_share: f64,
    pub disconnect_rate: f64,
}

/// The seed of device `n` (1-based) of a fleet seeded with `seed`.
pub fn device_seed(seed: u64, n: u64) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(n)
}

/// Whether device `n` of `count` speaks Home Assistant: the shares are
/// spread evenly (with 0.25, every fourth device), so any prefix of the
/// fleet is mixed and the choice does not depend on the seed.
pub fn is_home_assistant(n: u32, share: f64) -> bool {
    let share = share.clamp(0.0, 1.0);
    n >= 1 && (f64::from(n) * share).floor() > (f64::from(n - 1) * share).floor()
}

/// The devices `--count` describes.
pub fn generate(g: &Generate) -> Vec<DeviceSpec> {
    (1..=g.count)
        .map(|n| {
            let convention = if is_home_assistant(n, g.ha_share) {
                Convention::HomeAssistant
            } else {
                Convention::Kite
            };
            let mut spec = DeviceSpec::generated(
                n,
                format!("{}-{n}", g.prefix),
                device_seed(g.seed, u64::from(n)),
                g.interval,
                convention,
            );
            spec.disconnect_rate = g.disconnect_rate;
            spec
        })
        .collect()
}

/// When device `index` (0-based) of `total` first connects: evenly over
/// 2 ms per device, at most two seconds.
pub fn start_delay(index: usize, total: usize) -> Duration {
    let ramp = Duration::from_millis(2 * total as u64).min(Duration::from_secs(2));
    if total <= 1 {
        Duration::ZERO
    } else {
        ramp.mul_f64(index as f64 / total as f64)
    }
}

/// How every device of a fleet connects.
#[derive(Debug, Clone)]
pub struct Connection {
    pub endpoint: Endpoint,
    pub protocol: Protocol,
    pub username: Option<String>,
    pub password: Option<String>,
    pub start_of_day: f64,
}

/// Run `specs` until `stop` turns true; logs once every device is connected.
pub async fn run(specs: Vec<DeviceSpec>, connection: Connection, stop: watch::Receiver<bool>) {
    let counters = Arc::new(Counters::default());
    let total = specs.len();
    let mut tasks = JoinSet::new();
    for (index, spec) in specs.into_iter().enumerate() {
        let config = DeviceConfig {
            endpoint: connection.endpoint.clone(),
            spec,
            protocol: connection.protocol,
            username: connection.username.clone(),
            password: connection.password.clone(),
            start_of_day: connection.start_of_day,
            start_delay: start_delay(index, total),
        };
        tasks.spawn(device::run(config, counters.clone(), stop.clone()));
    }
    tasks.spawn(report(counters, total, stop));
    while tasks.join_next().await.is_some() {}
}

/// Say when the whole fleet is up, which is what a load test waits for.
async fn report(counters: Arc<Counters>, total: usize, mut stop: watch::Receiver<bool>) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped(&mut stop) => return,
        }
        if counters.connected.load(Ordering::Relaxed) >= total {
            tracing::info!(
                devices = total,
                "all devices connected in {:.2?}",
                started.elapsed()
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_assistant_share_is_spread_evenly() {
        let ha: Vec<u32> = (1..=12).filter(|n| is_home_assistant(*n, 0.25)).collect();
        assert_eq!(ha, [4, 8, 12]);
        assert!((1..=100).all(|n| !is_home_assistant(n, 0.0)));
        assert!((1..=100).all(|n| is_home_assistant(n, 1.0)));
        assert_eq!(
            (1..=1000).filter(|n| is_home_assistant(*n, 0.1)).count(),
            100
        );
    }

    #[test]
    fn generated_fleets_keep_the_id_and_seed_contract() {
        let specs = generate(&Generate {
            count: 3,
            prefix: "sim".into(),
            seed: 1,
            interval: Duration::from_secs(1),
            ha_share: 0.0,
            disconnect_rate: 0.0,
        });
        let ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["sim-1", "sim-2", "sim-3"]);
        assert_eq!(specs[1].seed, 1_000_005);
        assert!(specs.iter().all(|s| s.convention == Convention::Kite));
    }

    #[test]
    fn connects_are_spread_over_at_most_two_seconds() {
        assert_eq!(start_delay(0, 1), Duration::ZERO);
        assert_eq!(start_delay(6, 12), Duration::from_millis(12));
        assert_eq!(start_delay(500, 1000), Duration::from_secs(1));
        assert!(start_delay(9_999, 10_000) < Duration::from_secs(2));
    }
}
