//! The broker's administration API (`$CONTROL/kite/v1`) as the dashboard
//! speaks it over its own MQTT connection: the requests of the bridges and
//! users pages, one on the wire at a time, each response matched to its
//! request, and what a response means for a form (a message per field).
//! Plain state, no I/O: [`Asker::next`] says what to publish,
//! [`Asker::answer`] whether a message is a response and to what.
//!
//! Responses come on [`RESPONSE_TOPIC`], which the dashboard subscribes to
//! (the broker delivers a response through the asker's own subscription
//! only, so no one else's arrive there). An MQTT 5 request names it as its
//! Response Topic with Correlation Data; every command also carries its
//! own `correlationData`, which the broker echoes in that command's
//! response under every MQTT version, so a response is told apart from a
//! late one to a request given up on.
//!
//! - [`bridges`]: the bridge form, the list with rates.
//! - [`users`]: the user and role forms, users, roles, default access and
//!   the live sessions, by user.

pub mod bridges;
pub mod users;

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use kite_convention::control::{Response, Responses, REQUEST_TOPIC, RESPONSE_TOPIC};
use mqtt::{ByteString, QoS};
use serde_json::Value;

use super::publish::Outgoing;

/// The pages ask for their lists this often while open (ms).
pub const POLL_MS: u64 = 2_000;

/// A request whose response has not come after this long is given up.
pub const ANSWER_TIMEOUT_MS: u64 = 10_000;

/// What to tell someone whom the API refuses.
pub const ADMIN_HINT: &str = "Connect as an administrator: on the Connection page, a user \
    whose ACL grants write access to $CONTROL/kite/v1 and read access to \
    $CONTROL/kite/v1/response (for example `topic readwrite $CONTROL/kite/#`).";

/// A form whose save went out as a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Bridge,
    User,
    Role,
    DefaultAccess,
}

/// Who asked, so the response reaches the right model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `listBridges`, polled while the bridges page is open.
    Bridges,
    /// Users, roles and the default access.
    Admin,
    /// `listSessions`, polled while the users page is open.
    Sessions,
    /// A form's save: its responses go back to the form.
    Form(Form),
    /// A button on a row (pause, delete, disconnect, ...): the outcome
    /// shows on the page's status line; `what` says what it was.
    Action { page: Board, what: String },
}

/// The page a [`Purpose::Action`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    Bridges,
    Users,
}

impl Purpose {
    /// A poll queued twice is asked once.
    fn supersedes(&self, queued: &Purpose) -> bool {
        matches!(
            (self, queued),
            (Purpose::Bridges, Purpose::Bridges)
                | (Purpose::Admin, Purpose::Admin)
                | (Purpose::Sessions, Purpose::Sessions)
        )
    }
}

/// The subscription to [`RESPONSE_TOPIC`] on the current connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Listening {
    /// Not asked for on this connection (nothing asked yet, or reconnected).
    #[default]
    No,
    /// SUBSCRIBE sent.
    Pending,
    Granted,
    /// The broker refused it: why.
    Refused(String),
}

/// A request sent and not answered yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Asked {
    pub purpose: Purpose,
    /// When it went out (ms since the epoch, by this page's clock).
    pub at_ms: u64,
    id: String,
}

/// The requests of one dashboard, across its connections.
#[derive(Debug, Default)]
pub struct Asker {
    pub listening: Listening,
    queue: VecDeque<(Purpose, Vec<Value>)>,
    in_flight: Option<Asked>,
    next_id: u64,
}

impl Asker {
    /// Queue a request of `commands` (objects with their `command`); a
    /// queued poll of the same kind goes. True when the response topic must
    /// be subscribed to first (call [`Asker::subscribing`] once asked).
    pub fn ask(&mut self, purpose: Purpose, commands: Vec<Value>) -> bool {
        self.queue.retain(|(queued, _)| !purpose.supersedes(queued));
        self.queue.push_back((purpose, commands));
        self.listening == Listening::No
    }

    /// The SUBSCRIBE to [`RESPONSE_TOPIC`] went out.
    pub fn subscribing(&mut self) {
        self.listening = Listening::Pending;
    }

    /// A SUBACK: `Some` when it was for the response topic, with whether the
    /// broker granted it. Refused, the queued requests are dropped.
    pub fn subscribed(
        &mut self,
        filters: &[String],
        results: &[Result<u8, String>],
    ) -> Option<Result<(), String>> {
        let index = filters.iter().position(|f| f == RESPONSE_TOPIC)?;
        let result = match results.get(index) {
            Some(Ok(_)) => Ok(()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("no answer to the subscription".to_owned()),
        };
        self.listening = match &result {
            Ok(()) => Listening::Granted,
            Err(why) => {
                self.queue.clear();
                Listening::Refused(why.clone())
            }
        };
        Some(result)
    }

    /// The connection is gone: nothing in flight, nothing queued; the
    /// subscription is renewed with the next connection (the transport
    /// renews every listed one), so it is pending again.
    pub fn lost(&mut self, listed: bool) {
        self.in_flight = None;
        self.queue.clear();
        self.listening = if listed {
            Listening::Pending
        } else {
            Listening::No
        };
    }

    /// Requests waiting, the one in flight included.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.in_flight.is_some())
    }

    /// Is a request of `purpose` queued or in flight?
    pub fn asking(&self, purpose: &Purpose) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|a| a.purpose == *purpose)
            || self.queue.iter().any(|(p, _)| p == purpose)
    }

    /// The next request to publish now, if one may go: subscribed, and no
    /// other in flight. QoS 1, so an MQTT 5 broker that refuses it says so
    /// in its PUBACK.
    pub fn next(&mut self, now_ms: u64) -> Option<Outgoing> {
        if self.listening != Listening::Granted || self.in_flight.is_some() {
            return None;
        }
        let (purpose, mut commands) = self.queue.pop_front()?;
        self.next_id += 1;
        let id = format!("kite-dash-{}", self.next_id);
        for command in &mut commands {
            if let Some(object) = command.as_object_mut() {
                object.insert("correlationData".into(), Value::String(id.clone()));
            }
        }
        let body = serde_json::json!({ "commands": commands });
        let payload = serde_json::to_vec(&body).expect("JSON values serialize");
        let mut out = Outgoing::simple(REQUEST_TOPIC, payload, QoS::AtLeastOnce, false);
        out.properties.response_topic = Some(ByteString::from(RESPONSE_TOPIC));
        out.properties.correlation_data = Some(Bytes::from(id.clone()));
        out.properties.content_type = Some(ByteString::from("application/json"));
        self.in_flight = Some(Asked {
            purpose,
            at_ms: now_ms,
            id,
        });
        Some(out)
    }

    /// Sending [`Asker::next`]'s request failed, or the broker refused it
    /// (a PUBACK with an error): it is not in flight any more.
    pub fn unsent(&mut self) -> Option<Asked> {
        self.in_flight.take()
    }

    /// A message arrived: `None` when it is not on the response topic (not
    /// ours to take); `Some(None)` for a stray response, to drop (nothing in
    /// flight, or another request's correlation data); else the request and
    /// its responses. A body that does not read becomes one error response.
    pub fn answer(
        &mut self,
        topic: &str,
        payload: &[u8],
    ) -> Option<Option<(Asked, Vec<Response>)>> {
        if topic != RESPONSE_TOPIC {
            return None;
        }
        let Some(asked) = &self.in_flight else {
            return Some(None);
        };
        let responses = match serde_json::from_slice::<Responses>(payload) {
            Ok(body) => body.responses,
            Err(e) => vec![Response {
                error: Some(format!("a response that does not read: {e}")),
                ..Response::default()
            }],
        };
        // Each command's echo names the request; a response to the whole
        // body (malformed, API not running) has none and answers the one
        // in flight.
        let echoed = responses.iter().find_map(|r| r.correlation_data.as_ref());
        if echoed.is_some_and(|c| c.as_str() != Some(asked.id.as_str())) {
            return Some(None);
        }
        Some(self.in_flight.take().map(|asked| (asked, responses)))
    }

    /// The request in flight, when it waited longer than
    /// [`ANSWER_TIMEOUT_MS`]: given up, so the next may go.
    pub fn expire(&mut self, now_ms: u64) -> Option<Asked> {
        let late = self
            .in_flight
            .as_ref()
            .is_some_and(|a| now_ms.saturating_sub(a.at_ms) >= ANSWER_TIMEOUT_MS);
        late.then(|| self.in_flight.take()).flatten()
    }
}

/// Why the API refuses this connection, if the responses say it does (an
/// anonymous client, no ACL rule, no ACL file): the broker's words and
/// what to do.
pub fn refusal(responses: &[Response]) -> Option<String> {
    responses
        .iter()
        .filter_map(|r| r.error.as_deref())
        .find(|e| e.starts_with("not authorized"))
        .map(|e| format!("The broker refuses the administration API: {e}. {ADMIN_HINT}"))
}

/// What a form's save came to: a message for each field the broker (or
/// the form itself) found wrong, and the rest for the form as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// True when every command succeeded.
    pub ok: bool,
    /// Field (as the API names it: `username`, `bridge.topic[0].pattern`)
    /// → message.
    pub fields: BTreeMap<String, String>,
    /// Messages not about one field.
    pub general: Vec<String>,
}

impl Outcome {
    /// A save that went well, saying so.
    pub fn done(text: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            fields: BTreeMap::new(),
            general: vec![text.into()],
        }
    }

    /// A save that failed as a whole.
    pub fn failed(text: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            fields: BTreeMap::new(),
            general: vec![text.into()],
        }
    }

    /// One field is wrong (found by the form, before sending).
    pub fn field(field: &str, text: impl Into<String>) -> Outcome {
        let mut outcome = Outcome::default();
        outcome.fields.insert(field.to_owned(), text.into());
        outcome
    }

    /// The responses to a save; `done` is what to say when all went well.
    /// A field the form does not show (`shown` false) is told in general,
    /// with its name.
    pub fn from_responses(
        responses: &[Response],
        done: &str,
        shown: impl Fn(&str) -> bool,
    ) -> Outcome {
        let mut outcome = Outcome {
            ok: responses.iter().all(|r| r.error.is_none()),
            ..Outcome::default()
        };
        for response in responses {
            let Some(error) = &response.error else {
                continue;
            };
            match response.field.as_deref() {
                Some(field) if shown(field) => {
                    outcome
                        .fields
                        .entry(field.to_owned())
                        .or_insert_with(|| error.clone());
                }
                Some(field) => outcome.general.push(format!("{field}: {error}")),
                None => outcome.general.push(error.clone()),
            }
        }
        if outcome.ok {
            outcome.general.push(done.to_owned());
        }
        if let Some(refused) = refusal(responses) {
            outcome.general = vec![refused];
        }
        outcome
    }

    /// The fields renamed to those a form shows them at (a rule's
    /// `topic`, `acltype`, ... at the role's entries).
    pub fn remap(mut self, at: impl Fn(&str) -> &str) -> Outcome {
        let mut fields = BTreeMap::new();
        for (field, error) in std::mem::take(&mut self.fields) {
            fields.entry(at(&field).to_owned()).or_insert(error);
        }
        self.fields = fields;
        self
    }

    /// The message for `field`, if it is wrong.
    pub fn for_field(&self, field: &str) -> Option<String> {
        self.fields.get(field).cloned()
    }

    /// The form-wide text: the general messages, or, when only fields are
    /// wrong, a pointer to them.
    pub fn summary(&self) -> String {
        if !self.general.is_empty() {
            self.general.join("; ")
        } else if !self.fields.is_empty() {
            "see the marked fields".to_owned()
        } else {
            String::new()
        }
    }
}

/// The `data` of the first response to `command`, when it succeeded; the
/// error otherwise.
pub fn data_of<'a>(responses: &'a [Response], command: &str) -> Result<&'a Value, String> {
    let response = responses
        .iter()
        .find(|r| r.command == command || r.command.is_empty())
        .ok_or_else(|| format!("no response to {command}"))?;
    if let Some(error) = &response.error {
        return Err(error.clone());
    }
    response
        .data
        .as_ref()
        .ok_or_else(|| format!("{command} answered no data"))
}

/// One command object: `{"command": name, ...fields}`.
pub fn command(name: &str, fields: Value) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("command".into(), Value::String(name.to_owned()));
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests;
