//! The store natively: transport events reach the right signals, messages
//! every model, and the actions check their input (there is no WebSocket
//! outside the browser, so nothing connects).

use ::mqtt::{ByteString, Properties, Publish, QoS};
use bytes::Bytes;
use kite_convention::history::{
    Answer, EventsAnswer, LastAnswer, LastDevice, LastValue, Resolution, SeriesAnswer, StoredEvent,
};
use kite_convention::{Severity, Source};
use leptos::prelude::*;

use super::ui::{ACK_NAME_KEY, THEME_KEY};
use super::*;
use crate::state::alarms::RuleForm;
use crate::state::devices::DeviceKey;
use crate::state::events::{EventFilter, EventLog, PageStatus};
use crate::state::history::Purpose;
use crate::state::profile::{Profiles, STORAGE_KEY};
use crate::state::publish::SubState;
use crate::state::route::Page;
use crate::state::topics::TopicTree;
use crate::state::{ConnState, MessageLog};

fn with_store(test: impl FnOnce(Store)) {
    let owner = Owner::new();
    owner.with(|| test(Store::new()));
}

fn message(topic: &str, payload: &[u8], retain: bool) -> TransportEvent {
    TransportEvent::Message(Box::new(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain,
        topic: ByteString::from(topic),
        pid: None,
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload),
    }))
}

#[test]
fn starts_disconnected_with_the_fallback_url_natively() {
    with_store(|store| {
        assert_eq!(
            store.connection.conn_state.get_untracked(),
            ConnState::Disconnected
        );
        assert_eq!(
            store.connection.broker_url.get_untracked(),
            FALLBACK_BROKER_URL
        );
        assert!(store
            .connection
            .client_id
            .get_value()
            .starts_with("kite-dash-"));
        assert!(store.data.messages.with_untracked(MessageLog::is_empty));
        let profile = store.connection.profiles.with_untracked(Profiles::current);
        assert_eq!(profile.protocol, "5");
        assert_eq!(store.ui.page.get_untracked(), Page::Devices);
    });
}

#[test]
fn events_update_the_signals() {
    with_store(|store| {
        store.apply(TransportEvent::State(ConnState::Connecting));
        assert_eq!(
            store.connection.conn_state.get_untracked(),
            ConnState::Connecting
        );
        store.apply(TransportEvent::Error("cannot reach".into()));
        store.apply(TransportEvent::Retrying { delay_ms: 2_000 });
        assert_eq!(
            store.connection.last_error.get_untracked().as_deref(),
            Some("cannot reach")
        );
        assert!(store.connection.retry_at.get_untracked().unwrap() >= platform::now_ms() + 1_000);
        store.apply(TransportEvent::State(ConnState::Connected));
        store.apply(TransportEvent::Session {
            session_present: true,
            client_id: "me".into(),
        });
        assert_eq!(
            store.connection.conn_state.get_untracked(),
            ConnState::Connected
        );
        assert_eq!(
            store.connection.last_error.get_untracked(),
            None,
            "cleared on CONNACK"
        );
        assert_eq!(store.connection.retry_at.get_untracked(), None);
        assert!(
            store
                .connection
                .session
                .get_untracked()
                .unwrap()
                .session_present
        );

        store.apply(message("a/b", b"1", false));
        store.apply(message("c", b"\xff2", true));
        store.data.messages.with_untracked(|log| {
            assert_eq!(log.total(), 2);
            let latest = log.latest().unwrap();
            assert_eq!(latest.topic, "c");
            assert_eq!(latest.payload, "\u{fffd}2");
            assert!(latest.retained);
        });
        store.data.clear_messages();
        assert_eq!(store.data.messages.with_untracked(MessageLog::total), 0);

        store.apply(TransportEvent::State(ConnState::Disconnected));
        assert_eq!(store.connection.session.get_untracked(), None);
    });
}

#[test]
fn messages_reach_every_model_and_notify_once_flushed() {
    with_store(|store| {
        store.apply(message("devices/sim-1/status", b"online", true));
        store.apply(message(
            "devices/sim-1/telemetry",
            br#"{"temperature":21.5,"battery":80,"signal":-60}"#,
            false,
        ));
        store.apply(message(
            "devices/sim-1/events",
            br#"{"type":"button","message":"pressed"}"#,
            false,
        ));
        store.apply(message("$SYS/broker/clients/connected", b"4", true));
        store.apply(message(
            "$kite/alarms/rules/low",
            br#"{"measurement":"battery","condition":"<","threshold":20}"#,
            true,
        ));
        let key = DeviceKey::new(Source::Kite, "sim-1");
        let card = store.data.devices.with_untracked(|d| d.card(&key)).unwrap();
        assert_eq!(card.online, Some(true));
        assert_eq!(card.measurements[0].value, "21.5");
        assert_eq!(store.data.events.with_untracked(EventLog::len), 1);
        assert_eq!(
            store
                .data
                .sys
                .with_untracked(|s| s.latest("clients/connected")),
            Some(4.0)
        );
        assert_eq!(store.data.alarms.with_untracked(|a| a.rules.len()), 1);
        assert_eq!(store.data.topics.with_untracked(TopicTree::messages), 5);
        assert!(store
            .data
            .topics
            .with_untracked(|t| t.is_retained("devices/sim-1/status")));
        // Natively the flush runs at once: nothing is left pending.
        store.data.batch.with_value(|b| {
            assert_eq!(b.received, 5);
            assert!(!b.scheduled);
            assert!(!b.dirty.devices && !b.dirty.topics && !b.dirty.messages);
        });
    });
}

#[test]
fn subacks_and_publish_acknowledgements_show() {
    with_store(|store| {
        store.apply(TransportEvent::Subscribed {
            filters: vec!["#".into(), "$SYS/#".into()],
            results: vec![Ok(0), Err("NotAuthorized".into())],
        });
        store.connection.subscriptions.with_untracked(|s| {
            assert_eq!(s.list[0].state, SubState::Granted(0));
            assert_eq!(s.list[1].state, SubState::Refused("NotAuthorized".into()));
        });
        store.apply(TransportEvent::State(ConnState::Disconnected));
        assert!(store
            .connection
            .subscriptions
            .with_untracked(|s| s.list.iter().all(|s| s.state == SubState::Pending)));

        store
            .connection
            .publish_status
            .set(Some(PublishStatus::Waiting(7, "sent to t".into())));
        store.apply(TransportEvent::Published {
            pid: 8,
            result: Ok(()),
        });
        assert!(matches!(
            store.connection.publish_status.get_untracked(),
            Some(PublishStatus::Waiting(7, _))
        ));
        store.apply(TransportEvent::Published {
            pid: 7,
            result: Ok(()),
        });
        assert_eq!(
            store.connection.publish_status.get_untracked(),
            Some(PublishStatus::Acknowledged("sent to t".into()))
        );
    });
}

#[test]
fn actions_check_their_input_and_need_a_connection_natively() {
    with_store(|store| {
        let bad = RuleForm {
            id: String::new(),
            ..RuleForm::default()
        };
        assert_eq!(
            store.connection.save_rule(&bad).unwrap_err(),
            ["the rule needs an id"]
        );
        assert_eq!(
            store
                .connection
                .save_rule(&RuleForm::preset(0))
                .unwrap_err(),
            ["not connected"]
        );
        assert_eq!(
            store.connection.delete_retained("t"),
            Err("not connected".to_owned())
        );
        assert!(matches!(
            store.connection.publish_status.get_untracked(),
            Some(PublishStatus::Failed(_))
        ));
        assert!(store.connection.subscribe("a/#/b", 0, false).is_err());
        store.connection.subscribe("sensors/#", 1, false).unwrap();
        assert_eq!(
            store
                .connection
                .subscriptions
                .with_untracked(|s| s.list.len()),
            4
        );
        store.connection.unsubscribe("sensors/#");
        assert_eq!(
            store
                .connection
                .subscriptions
                .with_untracked(|s| s.list.len()),
            3
        );
    });
}

#[test]
fn profiles_are_saved_and_connect_reports_failure_natively() {
    with_store(|store| {
        let profile = Profile {
            name: "lab".into(),
            ..Profile::for_url("ws://127.0.0.1:1/mqtt")
        };
        store.save_profile(profile, true).unwrap();
        assert_eq!(
            store.connection.broker_url.get_untracked(),
            "ws://127.0.0.1:1/mqtt"
        );
        assert_eq!(
            store.connection.conn_state.get_untracked(),
            ConnState::Disconnected
        );
        assert!(store.connection.last_error.get_untracked().is_some());
        let stored = platform::storage_get(STORAGE_KEY).unwrap();
        assert!(stored.contains("\"lab\""));
        let bad = Profile::for_url("http://nope");
        assert!(store.save_profile(bad, false).is_err());

        store.connect_to(" ws://127.0.0.1:2/mqtt ");
        assert_eq!(
            store.connection.broker_url.get_untracked(),
            "ws://127.0.0.1:2/mqtt"
        );
        store.connection.select_profile("default");
        assert_eq!(
            store
                .connection
                .profiles
                .with_untracked(|p| p.selected.clone()),
            "default"
        );
        store.connection.delete_profile("lab").unwrap();
        assert_eq!(
            store.connection.profiles.with_untracked(|p| p.list.len()),
            1
        );
    });
}

#[test]
fn theme_and_page() {
    with_store(|store| {
        store.ui.set_theme("dark");
        assert_eq!(platform::storage_get(THEME_KEY).as_deref(), Some("dark"));
        store.ui.go(Page::Alarms);
        assert_eq!(platform::location_hash(), "#/alarms");
        assert_eq!(store.ui.page.get_untracked(), Page::Alarms);
    });
}

#[test]
fn acknowledging_takes_the_typed_name_or_the_client_id() {
    with_store(|store| {
        store.ui.ack_name.set("  ".into());
        assert_eq!(
            store.acknowledge("sim-1", "low-battery"),
            Err("not connected".to_owned())
        );
        let client_id = store.connection.client_id.get_value();
        assert_eq!(platform::storage_get(ACK_NAME_KEY), Some(client_id));
        store.ui.ack_name.set(" Ada ".into());
        let _ = store.acknowledge("sim-1", "low-battery");
        assert_eq!(platform::storage_get(ACK_NAME_KEY).as_deref(), Some("Ada"));
    });
}

#[test]
fn a_session_subscribes_to_its_reply_topic_and_answers_are_not_messages() {
    with_store(|store| {
        store.apply(TransportEvent::State(ConnState::Connected));
        store.apply(TransportEvent::Session {
            session_present: false,
            client_id: "me".into(),
        });
        let reply = "$kite/history/reply/me";
        store.connection.subscriptions.with_untracked(|s| {
            let sub = s
                .list
                .iter()
                .find(|s| s.filter == reply)
                .expect("subscribed");
            assert!(sub.builtin);
            assert_eq!(sub.qos, 1);
        });
        // Granted: the questions go (and, natively, fail to send).
        store.apply(TransportEvent::Subscribed {
            filters: vec![reply.into()],
            results: vec![Ok(1)],
        });
        assert_eq!(store.history.problem.get_untracked(), None);
        // A message on the reply topic is the history's, even a stray one.
        store.apply(message(reply, br#"{"ok":true,"devices":[]}"#, false));
        assert_eq!(store.data.messages.with_untracked(MessageLog::total), 0);
        assert_eq!(store.data.topics.with_untracked(TopicTree::messages), 0);
        // Another client id: the old reply topic is left.
        store.apply(TransportEvent::Session {
            session_present: false,
            client_id: "other".into(),
        });
        let filters: Vec<String> = store
            .connection
            .subscriptions
            .with_untracked(|s| s.list.iter().map(|s| s.filter.clone()).collect());
        assert!(filters.contains(&"$kite/history/reply/other".to_owned()));
        assert!(!filters.contains(&reply.to_owned()));
        // A refused reply topic is a problem the pages show.
        store.apply(TransportEvent::Subscribed {
            filters: vec!["$kite/history/reply/other".into()],
            results: vec![Err("NotAuthorized".into())],
        });
        assert!(store
            .history
            .problem
            .get_untracked()
            .unwrap()
            .contains("NotAuthorized"));
    });
}

#[test]
fn answers_reach_the_device_book_and_the_event_pages() {
    with_store(|store| {
        store.apply(message("devices/sim-1/status", b"online", true));
        let key = DeviceKey::new(Source::Kite, "sim-1");
        let last = LastAnswer {
            ok: true,
            devices: vec![LastDevice {
                device: "sim-1".into(),
                last_seen: 1_000,
                measurements: vec![LastValue {
                    measurement: "temperature".into(),
                    value: 21.5,
                    ts: 1_000,
                    unit: Some("°C".into()),
                }],
            }],
        };
        store.history.deliver(Purpose::Last, 0, Answer::Last(last));
        let card = store.data.devices.with_untracked(|d| d.card(&key)).unwrap();
        assert_eq!(card.measurements[0].value, "21.5");
        assert_eq!(card.last_seen_ms, Some(1_000));

        let series = SeriesAnswer {
            ok: true,
            resolution: Resolution::Raw,
            from: 0,
            to: 2_000,
            series: vec![kite_convention::history::Series {
                device: "sim-1".into(),
                measurement: "temperature".into(),
                unit: None,
                points: vec![(500, 21.0, 21.0, 21.0), (1_000, 21.5, 21.5, 21.5)],
            }],
        };
        store
            .history
            .deliver(Purpose::Device("sim-1".into()), 0, Answer::Series(series));
        let points = store
            .data
            .devices
            .with_untracked(|d| d.series(&key, "temperature").unwrap().window(0, 2_000));
        assert_eq!(points, [(500, 21.0), (1_000, 21.5)]);

        store.history.filter_events(EventFilter::default());
        let generation = store.data.event_pages.with_untracked(|p| p.generation);
        let page = EventsAnswer {
            ok: true,
            events: vec![StoredEvent {
                ts: 900,
                seq: 4,
                device: "sim-1".into(),
                kind: "alarm_raised".into(),
                severity: Severity::Critical,
                message: "hot".into(),
                source: "alarm".into(),
            }],
            next_before: None,
        };
        store.history.deliver(
            Purpose::Events {
                generation,
                older: false,
            },
            0,
            Answer::Events(page),
        );
        store.data.event_pages.with_untracked(|p| {
            assert_eq!(p.status, PageStatus::Loaded);
            assert_eq!(p.events.len(), 1);
        });
        // The history off: the events page says so, the others show a problem.
        store.history.deliver(
            Purpose::Events {
                generation,
                older: false,
            },
            0,
            Answer::error("the history is off"),
        );
        assert_eq!(
            store.data.event_pages.with_untracked(|p| p.status.clone()),
            PageStatus::Failed("the history is off".into())
        );
        store
            .history
            .deliver(Purpose::Last, 0, Answer::error("the history is off"));
        assert_eq!(
            store.history.problem.get_untracked().as_deref(),
            Some("the history is off")
        );
    });
}
