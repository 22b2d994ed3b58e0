//! The history's cost on disk and the time its queries take, for a fleet
//! over a simulated day: DEVICES devices each send a telemetry message
//! (temperature, humidity, battery, signal) every INTERVAL seconds for
//! HOURS hours ending now, fed straight to the history's worker with their
//! simulated arrival times. Then it prunes as the broker does, and times
//! the queries a dashboard and a script make.
//!
//! ```sh
//! cargo run --release -p kite-server --example history_day -- /tmp/h 1000 1 24
//! ```

use std::time::Instant;

use bytes::Bytes;
use kite_convention::history::{Answer, Query, Resolution, Time};
use kite_server::history::{History, Settings};

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: history_day DIR DEVICES INTERVAL_SECONDS HOURS";
    let dir = args.next().expect(usage);
    let mut number = |what: &str| -> u64 {
        args.next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{usage}: {what}"))
    };
    let (devices, interval, hours) = (number("DEVICES"), number("INTERVAL"), number("HOURS"));
    let _ = std::fs::remove_dir_all(&dir);
    let history = History::start(Settings {
        dir: Some(dir.clone().into()),
        retention: 7 * 24 * 3_600_000,
        max_bytes: u64::MAX,
    })
    .expect("history starts");
    let end = now_ms();
    let start = end - hours * 3_600_000;
    let started = Instant::now();
    let mut messages = 0u64;
    let mut at = start;
    while at < end {
        for device in 0..devices {
            // Spread the fleet over the interval, as real devices are.
            let t = at + device * interval * 1000 / devices;
            let phase = (t / 1000) as f64 / 3600.0 + device as f64;
            let payload = format!(
                r#"{{"temperature":{:.1},"humidity":{:.0},"battery":{},"signal":{}}}"#,
                20.0 + 3.0 * phase.sin(),
                45.0 + 10.0 * phase.cos(),
                100 - (t - start) / 3_600_000 % 100,
                -60 - (device % 30) as i64
            );
            history.feed(
                &format!("devices/sim-{device}/telemetry"),
                &Bytes::from(payload),
                t,
            );
            messages += 1;
        }
        at += interval * 1000;
    }
    history.settle().await.expect("settled");
    let fed = started.elapsed();
    let file = std::fs::metadata(format!("{dir}/history.redb"))
        .map(|m| m.len())
        .unwrap_or(0);
    let gauges = history.gauges();
    println!(
        "fed {messages} messages ({} readings) in {fed:.1?}: {:.0} readings/s",
        gauges.readings,
        gauges.readings as f64 / fed.as_secs_f64()
    );
    println!(
        "after pruning: {:.1} MB live data, file {:.1} MB",
        gauges.stored_bytes as f64 / 1e6,
        file as f64 / 1e6
    );
    let queries = [
        (
            "24 h of one measurement of one device (auto)",
            Query::Series {
                devices: vec!["sim-7".into()],
                measurements: vec!["temperature".into()],
                from: Some(Time::Relative("-24h".into())),
                to: None,
                resolution: Resolution::Auto,
            },
        ),
        (
            "1 h raw of one device, every measurement",
            Query::Series {
                devices: vec!["sim-7".into()],
                measurements: vec![],
                from: Some(Time::Relative("-1h".into())),
                to: None,
                resolution: Resolution::Raw,
            },
        ),
        (
            "fleet-wide: 24 h of temperature, 15 min",
            Query::Series {
                devices: vec![],
                measurements: vec!["temperature".into()],
                from: Some(Time::Relative("-24h".into())),
                to: None,
                resolution: Resolution::Quarter,
            },
        ),
        ("fleet-wide: last values", Query::Last { devices: vec![] }),
    ];
    for (what, query) in queries {
        let mut times = Vec::new();
        let mut size = 0;
        let mut points = 0;
        for _ in 0..5 {
            let asked = Instant::now();
            let answer = history
                .ask(query.clone(), Box::new(|_| true))
                .await
                .expect("answered");
            times.push(asked.elapsed());
            size = answer.to_json().len();
            points = match &answer {
                Answer::Series(s) => s.series.iter().map(|s| s.points.len()).sum(),
                Answer::Last(l) => l.devices.iter().map(|d| d.measurements.len()).sum(),
                Answer::Error(e) => panic!("{what}: {}", e.error),
                Answer::Events(e) => e.events.len(),
            };
        }
        times.sort();
        println!(
            "{what}: median {:.1?} (min {:.1?}, max {:.1?}), {points} points, {:.1} kB of JSON",
            times[2],
            times[0],
            times[4],
            size as f64 / 1e3
        );
    }
    history.stop();
}
