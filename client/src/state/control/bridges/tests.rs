//! The bridge form, its commands and the list's rates.

use serde_json::json;

use super::*;

fn form() -> BridgeForm {
    BridgeForm {
        name: " far ".into(),
        addresses: "127.0.0.1:1884, backup:1883".into(),
        topics: vec![TopicForm {
            pattern: "sensors/#".into(),
            qos: "1".into(),
            local_prefix: "site1/".into(),
            ..TopicForm::default()
        }],
        ..BridgeForm::default()
    }
}

#[test]
fn a_new_bridge_is_created_with_its_settings() {
    let command = form().command().unwrap();
    assert_eq!(command["command"], "createBridge");
    let bridge = &command["bridge"];
    assert_eq!(bridge["name"], "far");
    assert_eq!(
        bridge["addresses"],
        json!(["127.0.0.1:1884", "backup:1883"])
    );
    assert_eq!(bridge["protocol"], "mqttv311");
    assert_eq!(
        (bridge["keepalive"].as_u64(), bridge["enabled"].as_bool()),
        (Some(60), Some(true))
    );
    assert_eq!(
        bridge["topic"],
        json!([{"pattern": "sensors/#", "direction": "out", "qos": 1,
                "local_prefix": "site1/", "remote_prefix": ""}])
    );
    for unset in [
        "password",
        "username",
        "client_id",
        "ca_file",
        "session_expiry",
    ] {
        assert!(bridge.get(unset).is_none(), "{unset}");
    }
}

#[test]
fn numbers_that_do_not_read_are_errors_at_their_field() {
    let mut bad = form();
    bad.keepalive = "soon".into();
    let outcome = bad.command().unwrap_err();
    assert!(outcome
        .for_field("bridge.keepalive")
        .unwrap()
        .contains("\"soon\""));
    let mut bad = form();
    bad.topics.push(TopicForm {
        pattern: "x".into(),
        qos: "one".into(),
        ..TopicForm::default()
    });
    assert!(bad
        .command()
        .unwrap_err()
        .for_field("bridge.topic[1].qos")
        .is_some());
    // A blank extra rule is left out; the only one is kept (the broker says why it is wrong).
    let mut extra = form();
    extra.topics.push(TopicForm::default());
    assert_eq!(extra.settings().unwrap().topic.len(), 1);
    let mut none = form();
    none.topics = vec![TopicForm::default()];
    assert_eq!(none.settings().unwrap().topic.len(), 1);
}

fn status(name: &str, source: &str, sent: u64, received: u64) -> BridgeStatus {
    let mut config: BridgeSettings =
        serde_json::from_value(json!({"name": name, "addresses": ["h:1"], "password": "********",
            "topic": [{"pattern": "", "local_prefix": "a/b", "remote_prefix": "c"}, {"pattern": "x/#", "qos": 2}]}))
        .unwrap();
    config.enabled = true;
    BridgeStatus {
        config,
        source: source.into(),
        connected: true,
        sent,
        received,
        queued: 0,
        dropped: 0,
        reconnects: 0,
    }
}

#[test]
fn an_edited_bridge_keeps_its_password_unless_one_is_typed() {
    let row = BridgeRow {
        status: status("far", "live", 0, 0),
        sent_rate: None,
        received_rate: None,
    };
    assert!(row.has_password());
    let mut edit = BridgeForm::from_status(&row.status);
    assert_eq!(edit.editing.as_deref(), Some("far"));
    assert_eq!(edit.password, "", "the hidden password is not typed back");
    let command = edit.command().unwrap();
    assert_eq!(command["command"], "modifyBridge");
    assert!(command["bridge"].get("password").is_none());
    assert_eq!(command["bridge"]["topic"][0]["local_prefix"], "a/b");
    edit.password = "new".into();
    assert_eq!(edit.command().unwrap()["bridge"]["password"], "new");
    assert_eq!(row.rules(), vec!["\"\" out 0 a/b c", "x/# out 2"]);
}

#[test]
fn rates_come_from_two_polls() {
    let mut book = BridgeBook::default();
    let list = |sent, received| json!({"totalCount": 2, "bridges": [status("far", "live", sent, received), status("file", "file", 0, 0)]});
    book.update(&list(10, 0), 1_000).unwrap();
    assert_eq!(
        book.get("far").unwrap().sent_rate,
        None,
        "one poll: no rate yet"
    );
    book.update(&list(30, 4), 3_000).unwrap();
    let far = book.get("far").unwrap();
    assert_eq!((far.sent_rate, far.received_rate), (Some(10.0), Some(2.0)));
    assert_eq!(far.state(), "connected");
    assert!(book.get("file").unwrap().from_file());
    // Recreated: its counts start again, and so does its rate.
    book.update(&list(2, 4), 5_000).unwrap();
    assert_eq!(book.get("far").unwrap().sent_rate, None);
    assert!(book.update(&json!({"bridges": [1]}), 6_000).is_err());
    assert_eq!(format_rate(Some(2.345)), "2.3 msg/s");
    assert_eq!(format_rate(Some(123.4)), "123 msg/s");
    assert_eq!(format_rate(None), "—");
}

#[test]
fn errors_name_the_inputs_they_go_next_to() {
    assert!(shows("bridge.topic[0].pattern"));
    assert!(shows("bridge.addresses[1]"));
    assert!(!shows("bridge.session_expiry"));
    assert_eq!(shown_at("bridge.addresses[1]"), "bridge.addresses");
    assert_eq!(shown_at("name"), "bridge.name");
    assert_eq!(
        pause_command("b", true),
        json!({"command": "disableBridge", "name": "b"})
    );
    assert_eq!(pause_command("b", false)["command"], "enableBridge");
    assert_eq!(delete_command("b")["command"], "deleteBridge");
}

#[test]
fn paused_and_connecting_bridges_say_so() {
    let mut row = BridgeRow {
        status: status("far", "live", 0, 0),
        sent_rate: None,
        received_rate: None,
    };
    row.status.connected = false;
    assert_eq!(row.state(), "connecting");
    row.status.config.enabled = false;
    assert_eq!(row.state(), "paused");
}
