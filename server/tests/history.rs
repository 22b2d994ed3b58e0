//! The history: device readings and events the broker keeps, asked for over
//! MQTT 5 (Response Topic, Correlation Data), MQTT 3.1.1 (the fixed reply
//! topic) and HTTP (`GET /api/history`), under the ACL, across a SIGKILL.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use kite_convention::history::{Answer, LastAnswer, SeriesAnswer, REPLY_PREFIX};
use rumqttc::v5::mqttbytes::v5::{Filter, PublishProperties};

/// A device sends three telemetry messages and an event (3.1.1, QoS 1).
async fn device_reports(broker: &Broker, id: &str) {
    let mut device = V4::connect(broker, id).await;
    for (t, b) in [(20.5, 90), (21.5, 89), (22.5, 88)] {
        let payload = format!(r#"{{"temperature":{t},"battery":{b}}}"#);
        device
            .publish(
                &format!("devices/{id}/telemetry"),
                qos(1),
                false,
                payload.as_bytes(),
            )
            .await;
        device.puback().await;
    }
    device
        .publish(
            &format!("devices/{id}/events"),
            qos(1),
            false,
            br#"{"type":"door_opened","severity":"warning","message":"Front door opened"}"#,
        )
        .await;
    device.puback().await;
    device.disconnect().await;
}

/// Ask over MQTT 5 with a response topic and correlation data; the answer.
async fn ask_v5(asker: &mut V5, query: &str, correlation: &'static [u8]) -> Answer {
    let properties = PublishProperties {
        response_topic: Some("answers/me".into()),
        correlation_data: Some(Bytes::from_static(correlation)),
        ..PublishProperties::default()
    };
    asker
        .client
        .publish_with_properties(
            "$kite/history/query",
            qos5(1),
            false,
            query.as_bytes().to_vec(),
            properties,
        )
        .await
        .expect("publish");
    let answer = asker.next_publish().await;
    assert_eq!(&answer.topic[..], b"answers/me");
    let properties = answer.properties.expect("the answer has properties");
    assert_eq!(
        properties.correlation_data.as_deref(),
        Some(correlation),
        "the request's correlation data comes back"
    );
    Answer::parse(&answer.payload).expect("an answer")
}

fn series(answer: Answer) -> SeriesAnswer {
    match answer {
        Answer::Series(series) => series,
        other => panic!("not a series answer: {other:?}"),
    }
}

fn last(answer: Answer) -> LastAnswer {
    match answer {
        Answer::Last(last) => last,
        other => panic!("not a last answer: {other:?}"),
    }
}

#[tokio::test]
async fn readings_are_answered_over_mqtt_5_to_the_asker_alone() {
    let broker = Broker::start().await;
    device_reports(&broker, "sim-1").await;
    let mut bystander = V5::connect(&broker, "bystander").await;
    bystander.subscribe(Filter::new("answers/#", qos5(1))).await;
    let mut asker = V5::connect(&broker, "asker").await;
    asker.subscribe(Filter::new("answers/me", qos5(1))).await;

    let query = r#"{"op":"series","devices":["sim-*"],"measurements":["temperature"],"from":"-1h","resolution":"raw"}"#;
    let answer = series(ask_v5(&mut asker, query, b"q-1").await);
    assert_eq!(answer.series.len(), 1);
    let temperature = &answer.series[0];
    assert_eq!(
        (temperature.device.as_str(), temperature.unit.as_deref()),
        ("sim-1", Some("°C"))
    );
    let values: Vec<f64> = temperature.points.iter().map(|p| p.1).collect();
    assert_eq!(values, [20.5, 21.5, 22.5]);

    let answer = series(
        ask_v5(
            &mut asker,
            r#"{"op":"series","measurements":["battery"],"resolution":"1m"}"#,
            b"q-2",
        )
        .await,
    );
    let points = &answer.series[0].points;
    let (mean, min, max) = points.iter().fold((0.0, f64::MAX, f64::MIN), |acc, p| {
        (acc.0 + p.1, acc.1.min(p.2), acc.2.max(p.3))
    });
    assert!(points.len() <= 2, "one or two minutes: {points:?}");
    assert_eq!((min, max), (88.0, 90.0));
    if points.len() == 1 {
        assert_eq!(mean, 89.0);
    }
    bystander.no_publish().await;
}

#[tokio::test]
async fn a_3_1_1_client_gets_last_values_and_events_on_its_reply_topic() {
    let broker = Broker::start().await;
    device_reports(&broker, "sim-2").await;
    let mut asker = V4::connect(&broker, "dash-311").await;
    asker
        .subscribe(&format!("{REPLY_PREFIX}dash-311"), qos(1))
        .await;
    asker
        .publish("$kite/history/query", qos(1), false, br#"{"op":"last"}"#)
        .await;
    let reply = asker.next_publish().await;
    assert_eq!(reply.topic, format!("{REPLY_PREFIX}dash-311"));
    let last = last(Answer::parse(&reply.payload).unwrap());
    assert_eq!(last.devices.len(), 1);
    let values: Vec<(&str, f64)> = last.devices[0]
        .measurements
        .iter()
        .map(|m| (m.measurement.as_str(), m.value))
        .collect();
    assert_eq!(values, [("battery", 88.0), ("temperature", 22.5)]);

    asker
        .publish(
            "$kite/history/query",
            qos(0),
            false,
            br#"{"op":"events","severity":"warning"}"#,
        )
        .await;
    let reply = asker.next_publish().await;
    let Answer::Events(events) = Answer::parse(&reply.payload).unwrap() else {
        panic!("not an events answer")
    };
    assert_eq!(events.events.len(), 1);
    assert_eq!(events.events[0].message, "Front door opened");
}

#[tokio::test]
async fn a_malformed_query_gets_a_clear_error_and_nothing_else_changes() {
    let broker = Broker::start().await;
    device_reports(&broker, "sim-3").await;
    let mut asker = V5::connect(&broker, "asker").await;
    asker.subscribe(Filter::new("answers/me", qos5(1))).await;
    for (bad, says) in [
        ("not json", "not a history query"),
        (r#"{"op":"drop_table"}"#, "unknown variant"),
        (r#"{"op":"series","from":"yesterday"}"#, "yesterday"),
    ] {
        let Answer::Error(error) = ask_v5(&mut asker, bad, b"bad").await else {
            panic!("{bad}: not an error answer")
        };
        assert!(!error.ok);
        assert!(error.error.contains(says), "{bad}: {}", error.error);
    }
    // The connection lives on and good queries still work.
    let last = last(ask_v5(&mut asker, r#"{"op":"last"}"#, b"ok").await);
    assert_eq!(last.devices[0].device, "sim-3");
}

#[tokio::test]
async fn the_acl_decides_what_a_query_shows() {
    let dir = std::env::temp_dir().join(format!("kite-history-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "topic write devices/#\ntopic read devices/open-1/#\ntopic readwrite answers/#\ntopic write $kite/history/query\n",
    )
    .unwrap();
    let broker = Broker::start_with(&["--acl-file", acl.to_str().unwrap()]).await;
    device_reports(&broker, "open-1").await;
    device_reports(&broker, "secret-1").await;
    let mut asker = V5::connect(&broker, "asker").await;
    asker.subscribe(Filter::new("answers/me", qos5(1))).await;
    let all = series(ask_v5(&mut asker, r#"{"op":"series"}"#, b"1").await);
    let devices: Vec<&str> = all.series.iter().map(|s| s.device.as_str()).collect();
    assert_eq!(devices, ["open-1", "open-1"], "battery and temperature");
    let last = last(ask_v5(&mut asker, r#"{"op":"last"}"#, b"2").await);
    assert_eq!(last.devices.len(), 1);
    let (status, body) = broker.http_get("/api/history?op=last", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("open-1") && !body.contains("secret-1"),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_http_api_answers_with_the_same_json() {
    let broker = Broker::start().await;
    device_reports(&broker, "sim-4").await;
    // The device's messages reach the history before the query does only
    // if they were routed first: they were (each was acknowledged).
    let (status, body) = broker
        .http_get(
            "/api/history?devices=sim-4&measurements=temperature&from=-1h&resolution=raw",
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let answer = series(Answer::parse(body.as_bytes()).unwrap());
    let values: Vec<f64> = answer.series[0].points.iter().map(|p| p.1).collect();
    assert_eq!(values, [20.5, 21.5, 22.5]);
    let (status, body) = broker
        .http_get("/api/history?op=events&text=front%20door", &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("door_opened"), "{body}");
    let (status, body) = broker.http_get("/api/history?resolution=5m", &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("5m"), "{body}");
    // Three telemetry messages of two readings, one event, two queries
    // answered (the malformed one never reached the history).
    assert_eq!(broker.metric("kite_history_readings_total").await, 6);
    assert_eq!(broker.metric("kite_history_events_total").await, 1);
    assert_eq!(broker.metric("kite_history_queries_total").await, 2);
    assert_eq!(broker.metric("kite_history_dropped_total").await, 0);
}

#[tokio::test]
async fn the_http_api_needs_credentials_where_mqtt_does() {
    let dir = std::env::temp_dir().join(format!("kite-history-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let passwords = dir.join("passwords");
    let mut passwd = std::process::Command::new(env!("CARGO_BIN_EXE_kite-server"))
        .args([
            "passwd",
            passwords.to_str().unwrap(),
            "grafana",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    passwd.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    assert!(passwd.wait().unwrap().success());
    let broker = Broker::start_with(&[
        "--password-file",
        passwords.to_str().unwrap(),
        "--allow-anonymous",
        "false",
    ])
    .await;
    let (status, _) = broker.http_get("/api/history?op=last", &[]).await;
    assert_eq!(status, 401);
    // grafana:wrong and grafana:s3cret in base64.
    let (status, _) = broker
        .http_get(
            "/api/history?op=last",
            &[("Authorization", "Basic Z3JhZmFuYTp3cm9uZw==")],
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = broker
        .http_get(
            "/api/history?op=last",
            &[("Authorization", "Basic Z3JhZmFuYTpzM2NyZXQ=")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_history_survives_sigkill_within_its_commit_bound() {
    let broker = Broker::start().await;
    device_reports(&broker, "sim-5").await;
    // Readings reach the disk within five seconds (COMMIT_EVERY).
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let broker = broker.restart(Stop::Crash).await;
    let (status, body) = broker.http_get("/api/history?op=last", &[]).await;
    assert_eq!(status, 200, "{body}");
    let last = last(Answer::parse(body.as_bytes()).unwrap());
    assert_eq!(last.devices[0].device, "sim-5");
    let (_, body) = broker
        .http_get("/api/history?measurements=temperature&resolution=raw", &[])
        .await;
    let answer = series(Answer::parse(body.as_bytes()).unwrap());
    assert_eq!(answer.series[0].points.len(), 3);
    let (_, body) = broker.http_get("/api/history?op=events", &[]).await;
    assert!(body.contains("Front door opened"), "{body}");
}

#[tokio::test]
async fn history_false_answers_that_it_is_off() {
    let broker = Broker::start_with(&["--history", "false"]).await;
    let (status, body) = broker.http_get("/api/history?op=last", &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("--history false"), "{body}");
}

#[tokio::test]
async fn the_brokers_own_statistics_have_a_history_too() {
    let broker = Broker::start_with(&["--sys-interval", "1"]).await;
    let mut n = 0;
    let body = loop {
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, body) = broker
            .http_get(
                "/api/history?devices=$SYS&measurements=uptime&resolution=raw",
                &[],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        if body.contains("\"points\":[[") && n > 4 {
            break body;
        }
        assert!(n < 20, "no uptime in the history: {body}");
    };
    let answer = series(Answer::parse(body.as_bytes()).unwrap());
    assert_eq!(answer.series[0].device, "$SYS");
    assert!(answer.series[0].points.len() >= 2, "{body}");
    // A fleet-wide question is about devices, not the broker.
    let (_, body) = broker.http_get("/api/history?op=last", &[]).await;
    assert!(!body.contains("$SYS"), "{body}");
}
