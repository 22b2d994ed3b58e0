//! The administration API's asker: requests, matching and form outcomes.

use kite_convention::control::{Response, REQUEST_TOPIC, RESPONSE_TOPIC};
use serde_json::json;

use super::*;

fn granted() -> Asker {
    let mut asker = Asker::default();
    assert!(asker.ask(Purpose::Bridges, vec![command("listBridges", json!({}))]));
    asker.subscribing();
    assert_eq!(asker.next(0), None, "not subscribed yet");
    assert_eq!(asker.subscribed(&["#".into()], &[Ok(0)]), None);
    assert_eq!(
        asker.subscribed(&[RESPONSE_TOPIC.into()], &[Ok(1)]),
        Some(Ok(()))
    );
    asker
}

fn body(out: &Outgoing) -> Value {
    serde_json::from_slice(&out.payload).unwrap()
}

#[test]
fn a_request_carries_its_id_in_each_command_and_in_its_properties() {
    let mut asker = granted();
    let out = asker.next(5).expect("goes out once subscribed");
    assert_eq!(out.topic, REQUEST_TOPIC);
    assert_eq!(out.qos, QoS::AtLeastOnce);
    assert_eq!(
        body(&out),
        json!({"commands": [{"command": "listBridges", "correlationData": "kite-dash-1"}]})
    );
    assert_eq!(
        out.properties.response_topic.as_deref(),
        Some(RESPONSE_TOPIC)
    );
    assert_eq!(
        out.properties.correlation_data.as_deref(),
        Some(&b"kite-dash-1"[..])
    );
}

#[test]
fn one_request_at_a_time_and_responses_matched_by_their_echo() {
    let mut asker = granted();
    asker.ask(
        Purpose::Form(Form::User),
        vec![command("createClient", json!({"username": "u"}))],
    );
    asker.ask(Purpose::Bridges, vec![command("listBridges", json!({}))]);
    assert_eq!(asker.pending(), 2, "the second poll replaced the first");
    asker.next(10).unwrap();
    assert_eq!(asker.next(11), None, "the first is in flight");
    assert_eq!(asker.answer("devices/x", b"{}"), None, "not ours");
    let stray = br#"{"responses":[{"command":"listBridges","correlationData":"kite-dash-9"}]}"#;
    assert_eq!(asker.answer(RESPONSE_TOPIC, stray), Some(None));
    let created = br#"{"responses":[{"command":"createClient","correlationData":"kite-dash-1"}]}"#;
    let (asked, responses) = asker.answer(RESPONSE_TOPIC, created).unwrap().unwrap();
    assert_eq!(asked.purpose, Purpose::Form(Form::User));
    assert_eq!(responses[0].command, "createClient");
    assert!(asker.next(20).is_some(), "the next goes once answered");
    // A response to the whole body names no request: it answers the one in flight.
    let malformed = br#"{"responses":[{"command":"","error":"malformed request: x"}]}"#;
    let (asked, responses) = asker.answer(RESPONSE_TOPIC, malformed).unwrap().unwrap();
    assert_eq!(asked.purpose, Purpose::Bridges);
    assert_eq!(
        data_of(&responses, "listBridges"),
        Err("malformed request: x".into())
    );
    assert_eq!(
        asker.answer(RESPONSE_TOPIC, created),
        Some(None),
        "nothing in flight"
    );
    let (asked, responses) = {
        asker.ask(Purpose::Sessions, vec![command("listSessions", json!({}))]);
        asker.next(30).unwrap();
        asker.answer(RESPONSE_TOPIC, b"nonsense").unwrap().unwrap()
    };
    assert_eq!(asked.purpose, Purpose::Sessions);
    assert!(responses[0]
        .error
        .as_deref()
        .unwrap()
        .contains("does not read"));
}

#[test]
fn a_refused_subscription_drops_the_queue_and_a_reconnect_asks_again() {
    let mut asker = Asker::default();
    assert!(asker.ask(Purpose::Admin, vec![command("listRoles", json!({}))]));
    asker.subscribing();
    assert!(!asker.ask(Purpose::Sessions, vec![]), "already subscribing");
    assert_eq!(
        asker.subscribed(&[RESPONSE_TOPIC.into()], &[Err("NotAuthorized".into())]),
        Some(Err("NotAuthorized".into()))
    );
    assert_eq!(asker.listening, Listening::Refused("NotAuthorized".into()));
    assert_eq!(asker.pending(), 0);
    asker.lost(true);
    assert_eq!(
        asker.listening,
        Listening::Pending,
        "renewed by the transport"
    );
    asker.lost(false);
    assert!(asker.ask(Purpose::Admin, vec![]), "subscribe again");
}

#[test]
fn a_silent_broker_or_a_refused_publish_frees_the_line() {
    let mut asker = granted();
    asker.next(1_000).unwrap();
    assert!(asker.asking(&Purpose::Bridges));
    assert_eq!(asker.expire(1_000 + ANSWER_TIMEOUT_MS - 1), None);
    assert_eq!(
        asker.expire(1_000 + ANSWER_TIMEOUT_MS).unwrap().purpose,
        Purpose::Bridges
    );
    asker.ask(Purpose::Sessions, vec![]);
    asker.next(0).unwrap();
    assert_eq!(asker.unsent().unwrap().purpose, Purpose::Sessions);
    assert_eq!(asker.pending(), 0);
}

fn failure(command: &str, error: &str, field: Option<&str>) -> Response {
    Response {
        command: command.into(),
        error: Some(error.into()),
        field: field.map(str::to_owned),
        ..Response::default()
    }
}

#[test]
fn errors_go_next_to_their_field_and_the_rest_to_the_form() {
    let responses = [
        failure(
            "createBridge",
            "\"a/#/b\" is not a topic filter",
            Some("bridge.topic[0].pattern"),
        ),
        failure("createBridge", "not stored", None),
        failure("createBridge", "hidden", Some("bridge.session_expiry")),
    ];
    let outcome = Outcome::from_responses(&responses, "saved", |f| f.starts_with("bridge.topic"));
    assert!(!outcome.ok);
    assert_eq!(
        outcome.for_field("bridge.topic[0].pattern").as_deref(),
        Some("\"a/#/b\" is not a topic filter")
    );
    assert_eq!(outcome.for_field("bridge.name"), None);
    assert_eq!(
        outcome.summary(),
        "not stored; bridge.session_expiry: hidden"
    );
    let remapped = outcome.clone().remap(|f| {
        if f.starts_with("bridge.topic") {
            "rules"
        } else {
            f
        }
    });
    assert!(remapped.for_field("rules").unwrap().contains("a/#/b"));
    let ok = Outcome::from_responses(&[Response::default()], "saved", |_| true);
    assert!(ok.ok && ok.fields.is_empty());
    assert_eq!(ok.summary(), "saved");
    assert_eq!(
        Outcome::field("username", "empty").summary(),
        "see the marked fields"
    );
}

#[test]
fn a_caller_without_rights_is_told_what_to_do() {
    let responses = [failure(
        "listBridges",
        "not authorized: anonymous clients may not use the $CONTROL API",
        None,
    )];
    let text = refusal(&responses).unwrap();
    assert!(text.contains("anonymous clients") && text.contains("Connect as an administrator"));
    let outcome = Outcome::from_responses(&responses, "saved", |_| true);
    assert_eq!(outcome.general, vec![text]);
    assert_eq!(
        refusal(&[failure("getClient", "no such", Some("username"))]),
        None
    );
}

#[test]
fn commands_are_objects_with_their_name() {
    assert_eq!(
        command("deleteBridge", json!({"name": "b"})),
        json!({"command": "deleteBridge", "name": "b"})
    );
    assert_eq!(
        command("listRoles", json!(null)),
        json!({"command": "listRoles"})
    );
}
