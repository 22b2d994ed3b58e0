//! The store natively: transport events reach the right signals, messages
//! every model, and the actions check their input (there is no WebSocket
//! outside the browser, so nothing connects).

use ::mqtt::{ByteString, Properties, Publish, QoS};
use bytes::Bytes;
use kite_convention::Source;
use leptos::prelude::*;

use super::ui::{ACK_NAME_KEY, THEME_KEY};
use super::*;
use crate::state::alarms::RuleForm;
use crate::state::devices::DeviceKey;
use crate::state::events::EventLog;
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
