//! The worker with known readings at known times: what it records, how it
//! downsamples, what a query sees, what the ACL hides, what pruning drops.

use std::sync::Arc;

use kite_convention::history::{Answer, Cursor, Query, Resolution, Series, Time, BROKER_DEVICE};

use super::{db::Db, Figures, Settings, Worker, MINUTE_KEPT, RAW_KEPT};

const MIN: u64 = 60_000;
/// A quarter-hour boundary, so bucket starts are easy to name.
const T0: u64 = 1_700_000_100_000 - 1_700_000_100_000 % (15 * MIN);

fn worker(dir: Option<&std::path::Path>) -> Worker {
    let (db, loaded) = Db::open(dir).expect("history opens");
    let settings = Settings {
        dir: dir.map(Into::into),
        retention: 7 * 24 * 3_600_000,
        max_bytes: 1 << 30,
    };
    Worker::new(db, loaded, settings, Arc::new(Figures::default()))
}

fn all() -> super::Reader {
    Box::new(|_| true)
}

fn ask(worker: &mut Worker, query: Query, reader: &super::Reader, now: u64) -> Answer {
    worker.commit(false);
    super::query::answer(worker, query, reader, now)
}

fn series(answer: Answer) -> (Resolution, Vec<Series>) {
    match answer {
        Answer::Series(s) => (s.resolution, s.series),
        other => panic!("not a series answer: {other:?}"),
    }
}

/// Every event, newest first, one page.
fn every_event() -> Query {
    Query::Events {
        devices: vec![],
        severity: None,
        text: None,
        before: None,
        limit: None,
    }
}

fn range(from: u64, to: u64, resolution: Resolution) -> Query {
    Query::Series {
        devices: vec![],
        measurements: vec![],
        from: Some(Time::Unix(from)),
        to: Some(Time::Unix(to)),
        resolution,
    }
}

#[test]
fn telemetry_readings_are_kept_raw_and_per_minute() {
    let mut w = worker(None);
    for (offset, t, b) in [(0, 20.0, 90), (20_000, 22.0, 89), (40_000, 24.0, 88)] {
        let payload = format!(r#"{{"temperature":{t},"battery":{b}}}"#);
        w.take(
            "devices/sim-1/telemetry",
            payload.as_bytes(),
            T0 + offset,
            false,
        );
    }
    w.take("devices/sim-1/temperature", b"30", T0 + MIN + 1, false);
    let (resolution, raw) = series(ask(
        &mut w,
        range(T0, T0 + 2 * MIN, Resolution::Raw),
        &all(),
        T0 + 2 * MIN,
    ));
    assert_eq!(resolution, Resolution::Raw);
    let names: Vec<&str> = raw.iter().map(|s| s.measurement.as_str()).collect();
    assert_eq!(names, ["battery", "temperature"]);
    let temperature = &raw[1];
    assert_eq!(temperature.unit.as_deref(), Some("°C"));
    let values: Vec<f64> = temperature.points.iter().map(|p| p.1).collect();
    assert_eq!(values, [20.0, 22.0, 24.0, 30.0]);

    let (_, minutes) = series(ask(
        &mut w,
        range(T0, T0 + 2 * MIN, Resolution::Minute),
        &all(),
        T0 + 2 * MIN,
    ));
    let temperature = &minutes[1].points;
    assert_eq!(
        temperature,
        &[(T0, 22.0, 20.0, 24.0), (T0 + MIN, 30.0, 30.0, 30.0)]
    );
    let (_, quarters) = series(ask(
        &mut w,
        range(T0, T0 + 2 * MIN, Resolution::Quarter),
        &all(),
        T0 + 2 * MIN,
    ));
    assert_eq!(quarters[1].points, [(T0, 24.0, 20.0, 30.0)]);
}

#[test]
fn last_values_and_events_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!(
        "kite-history-test-{}-{}",
        std::process::id(),
        crate::util::clock::now_unix_ms()
    ));
    {
        let mut w = worker(Some(&dir));
        w.take("devices/sim-1/telemetry", br#"{"signal":-61}"#, T0, false);
        w.take("devices/sim-2/battery", b"55", T0 + 5, false);
        w.take(
            "devices/sim-2/events",
            br#"{"type":"door_opened","severity":"warning","message":"Front door"}"#,
            T0 + 6,
            false,
        );
        w.commit(true);
    }
    let mut w = worker(Some(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    let Answer::Last(last) = ask(&mut w, Query::Last { devices: vec![] }, &all(), T0 + 10) else {
        panic!("not a last answer")
    };
    let summary: Vec<(String, String, f64, u64)> = last
        .devices
        .iter()
        .flat_map(|d| {
            d.measurements
                .iter()
                .map(|m| (d.device.clone(), m.measurement.clone(), m.value, m.ts))
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("sim-1".into(), "signal".into(), -61.0, T0),
            ("sim-2".into(), "battery".into(), 55.0, T0 + 5),
        ]
    );
    let Answer::Events(events) = ask(&mut w, every_event(), &all(), T0 + 10) else {
        panic!("not an events answer")
    };
    assert_eq!(events.events.len(), 1);
    assert_eq!(events.events[0].kind, "door_opened");
    // A minute bucket stored before the restart is continued, not replaced.
    w.take("devices/sim-2/battery", b"45", T0 + 20, false);
    let (_, minutes) = series(ask(
        &mut w,
        range(T0, T0 + MIN, Resolution::Minute),
        &all(),
        T0 + MIN,
    ));
    let battery = minutes.iter().find(|s| s.device == "sim-2").unwrap();
    assert_eq!(battery.points, [(T0, 50.0, 45.0, 55.0)]);
}

#[test]
fn events_page_newest_first_with_filters() {
    let mut w = worker(None);
    for n in 0..25u64 {
        let severity = if n % 5 == 0 { "critical" } else { "info" };
        let payload =
            format!(r#"{{"type":"button","severity":"{severity}","message":"press {n}"}}"#);
        let device = if n % 2 == 0 { "sim-1" } else { "sim-2" };
        w.take(
            &format!("devices/{device}/events"),
            payload.as_bytes(),
            T0 + n,
            false,
        );
    }
    let page = |w: &mut Worker, before: Option<Cursor>| {
        let query = Query::Events {
            devices: vec!["sim-1".into()],
            severity: None,
            text: None,
            before,
            limit: Some(5),
        };
        match ask(w, query, &all(), T0 + 100) {
            Answer::Events(e) => e,
            other => panic!("{other:?}"),
        }
    };
    let first = page(&mut w, None);
    let messages: Vec<&str> = first.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        ["press 24", "press 22", "press 20", "press 18", "press 16"]
    );
    let second = page(&mut w, first.next_before);
    assert_eq!(second.events[0].message, "press 14");
    let last = page(&mut w, second.next_before);
    assert_eq!(last.events.len(), 3, "13 events of sim-1 in pages of 5");
    assert_eq!(last.events[2].message, "press 0");
    assert_eq!(last.next_before, None);

    let critical = Query::Events {
        devices: vec![],
        severity: Some(kite_convention::Severity::Critical),
        text: Some("PRESS 1".into()),
        before: None,
        limit: None,
    };
    let Answer::Events(e) = ask(&mut w, critical, &all(), T0 + 100) else {
        panic!()
    };
    let messages: Vec<&str> = e.events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["press 15", "press 10"]);
}

#[test]
fn the_acl_hides_what_the_asker_may_not_receive() {
    let mut w = worker(None);
    w.take(
        "devices/open-1/telemetry",
        br#"{"temperature":20}"#,
        T0,
        false,
    );
    w.take(
        "devices/secret-1/telemetry",
        br#"{"temperature":30}"#,
        T0,
        false,
    );
    w.take(
        "devices/secret-1/events",
        br#"{"type":"tamper","severity":"critical"}"#,
        T0,
        false,
    );
    let reader: super::Reader = Box::new(|topic: &str| !topic.contains("secret"));
    let (_, visible) = series(ask(
        &mut w,
        range(T0, T0 + MIN, Resolution::Raw),
        &reader,
        T0 + MIN,
    ));
    let devices: Vec<&str> = visible.iter().map(|s| s.device.as_str()).collect();
    assert_eq!(devices, ["open-1"]);
    let Answer::Events(e) = ask(&mut w, every_event(), &reader, T0 + MIN) else {
        panic!()
    };
    assert!(e.events.is_empty());
    let Answer::Last(last) = ask(&mut w, Query::Last { devices: vec![] }, &reader, T0) else {
        panic!()
    };
    assert_eq!(last.devices.len(), 1);
}

#[test]
fn pruning_drops_each_tier_at_its_age() {
    let mut w = worker(None);
    let day = 24 * 3_600_000;
    let old = T0 - 3 * day;
    w.take("devices/sim-1/battery", b"90", old, false);
    w.take("devices/sim-1/battery", b"80", T0 - RAW_KEPT - MIN, false);
    w.take("devices/sim-1/battery", b"70", T0, false);
    w.commit(true);
    w.prune(T0 + 1);
    let count = |w: &mut Worker, resolution| {
        let (_, s) = series(ask(w, range(0, T0 + 1, resolution), &all(), T0 + 1));
        s[0].points.len()
    };
    assert_eq!(count(&mut w, Resolution::Raw), 1, "raw: the last 2 hours");
    assert_eq!(count(&mut w, Resolution::Minute), 2, "minutes: 48 hours");
    assert_eq!(count(&mut w, Resolution::Quarter), 3, "quarters: 7 days");
    assert!(MINUTE_KEPT < 3 * day);
    w.settings.retention = day;
    w.prune(T0 + 1);
    assert_eq!(count(&mut w, Resolution::Quarter), 2);
}

#[test]
fn auto_resolution_follows_the_range() {
    let mut w = worker(None);
    w.take("devices/sim-1/battery", b"90", T0, false);
    let now = T0 + MIN;
    for (from, want) in [
        ("-1h", Resolution::Raw),
        ("-24h", Resolution::Minute),
        ("-7d", Resolution::Quarter),
    ] {
        let query = Query::Series {
            devices: vec!["sim-*".into()],
            measurements: vec!["batt*".into()],
            from: Some(Time::Relative(from.into())),
            to: None,
            resolution: Resolution::Auto,
        };
        let (resolution, s) = series(ask(&mut w, query, &all(), now));
        assert_eq!(resolution, want, "{from}");
        assert_eq!(s[0].points.len(), 1, "{from}");
    }
}

#[test]
fn bad_queries_get_a_clear_error() {
    let mut w = worker(None);
    let query = Query::Series {
        devices: vec![],
        measurements: vec![],
        from: Some(Time::Relative("yesterday".into())),
        to: None,
        resolution: Resolution::Auto,
    };
    let Answer::Error(e) = ask(&mut w, query, &all(), T0) else {
        panic!()
    };
    assert!(e.error.contains("yesterday"), "{}", e.error);
    let Answer::Error(e) = ask(&mut w, range(T0, T0 - 1, Resolution::Raw), &all(), T0) else {
        panic!()
    };
    assert!(e.error.contains("after"), "{}", e.error);
}

#[test]
fn over_the_byte_limit_the_finest_tiers_give_first() {
    let mut w = worker(None);
    w.settings.max_bytes = 1 << 20;
    let day = 24 * 3_600_000;
    let start = T0 - 3 * day;
    // 20 series, a reading a minute for 3 days: the minute buckets (48 h
    // of them, 57,600) are most of the bytes.
    for (n, at) in (start..T0).step_by(MIN as usize).enumerate() {
        for device in 0..20 {
            let payload = format!("{}", (n + device) % 100);
            w.take(
                &format!("devices/d{device}/battery"),
                payload.as_bytes(),
                at,
                false,
            );
        }
        if n % 500 == 0 {
            w.commit(false);
        }
    }
    w.prune(T0);
    assert!(
        w.figures
            .stored_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
            <= 1 << 20,
        "under the limit after pruning"
    );
    const { assert!(RAW_KEPT > 15 * MIN) };
    assert_eq!(w.kept.raw, 15 * MIN, "raw readings gave first");
    assert!(w.kept.minute < MINUTE_KEPT, "then minute buckets");
    assert_eq!(w.kept.all, w.settings.retention, "quarter hours untouched");
    let (_, quarters) = series(ask(
        &mut w,
        Query::Series {
            devices: vec!["d0".into()],
            measurements: vec![],
            from: Some(Time::Unix(start)),
            to: Some(Time::Unix(T0)),
            resolution: Resolution::Quarter,
        },
        &all(),
        T0,
    ));
    assert_eq!(
        quarters[0].points.len(),
        3 * 96,
        "three days of quarter hours"
    );
}

#[test]
fn the_brokers_statistics_are_kept_apart_from_the_devices() {
    let mut w = worker(None);
    w.take("devices/sim-1/battery", b"90", T0, false);
    for (n, at) in [(3, T0), (4, T0 + 1_000)] {
        let count = n.to_string();
        w.take("$SYS/broker/clients/connected", count.as_bytes(), at, false);
    }
    w.take("$SYS/broker/uptime", b"42 seconds", T0, false);
    w.take("$SYS/broker/version", b"kite 0.1.0", T0, false);
    let Answer::Last(last) = ask(&mut w, Query::Last { devices: vec![] }, &all(), T0) else {
        panic!()
    };
    let devices: Vec<&str> = last.devices.iter().map(|d| d.device.as_str()).collect();
    assert_eq!(devices, ["sim-1"], "a fleet-wide query is about devices");
    let query = Query::Series {
        devices: vec![BROKER_DEVICE.into()],
        measurements: vec![],
        from: Some(Time::Unix(T0)),
        to: Some(Time::Unix(T0 + MIN)),
        resolution: Resolution::Raw,
    };
    let (_, stats) = series(ask(&mut w, query, &all(), T0 + MIN));
    let kept: Vec<(&str, Vec<f64>)> = stats
        .iter()
        .map(|s| {
            (
                s.measurement.as_str(),
                s.points.iter().map(|p| p.1).collect(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("clients/connected", vec![3.0, 4.0]),
            ("uptime", vec![42.0])
        ]
    );
}
