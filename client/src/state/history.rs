//! Asking the broker's history (`$kite/history/query`): the dashboard's
//! questions, one on the wire at a time, and each answer matched to its
//! question. Plain state, no I/O: [`Asker::next`] says what to publish,
//! [`Asker::answer`] whether a message is an answer and to what.
//!
//! Answers come on `$kite/history/reply/<client-id>`, which the dashboard
//! subscribes to before it asks: the broker delivers an answer only through
//! the asker's own subscription. An MQTT 5 question names that topic as its
//! Response Topic and carries Correlation Data that the answer echoes; 3.1.1
//! has neither, and the broker answers each question on a task of its own,
//! so two questions in flight could be answered out of order. Hence one at
//! a time, for both versions; with 5.0 a late answer to a question given up
//! on is still told apart by its correlation data.

use std::collections::VecDeque;

use bytes::Bytes;
use kite_convention::history::{reply_topic, Answer, Query, Resolution, Time, QUERY_TOPIC};
use mqtt::{ByteString, QoS};

use super::publish::Outgoing;

/// A question whose answer has not come after this long is given up.
pub const ANSWER_TIMEOUT_MS: u64 = 15_000;

/// Devices per question for the cards' sparklines: a day of quarter-hour
/// means of 50 devices is some 20,000 points, well under what one answer
/// may hold.
pub const CARD_BATCH: usize = 50;

/// What the cards show of the past: a day, in quarter-hour means.
pub const CARD_SPAN: &str = "-24h";

/// Every device's latest values.
pub fn last_query() -> Query {
    Query::Last { devices: vec![] }
}

/// The cards' sparklines of `ids`: one question per [`CARD_BATCH`].
pub fn card_queries(ids: &[String]) -> Vec<Query> {
    ids.chunks(CARD_BATCH)
        .map(|batch| Query::Series {
            devices: batch.to_vec(),
            measurements: vec![],
            from: Some(Time::Relative(CARD_SPAN.to_owned())),
            to: None,
            resolution: Resolution::Quarter,
        })
        .collect()
}

/// What the broker page's charts show of the past.
pub const BROKER_SPAN: &str = "-1h";

/// The broker page's charts: the broker's own statistics over the last
/// hour, which the history keeps as device `$SYS`.
pub fn broker_query() -> Query {
    Query::Series {
        devices: vec![kite_convention::history::BROKER_DEVICE.to_owned()],
        measurements: vec![],
        from: Some(Time::Relative(BROKER_SPAN.to_owned())),
        to: None,
        resolution: Resolution::Auto,
    }
}

/// A device page's charts over the `span_ms` up to now (`end_ms` `None`)
/// or up to `end_ms`, as finely as the history keeps that stretch.
pub fn device_query(id: &str, span_ms: u64, end_ms: Option<u64>) -> Query {
    let from = match end_ms {
        None => Time::Relative(format!("-{}s", span_ms.div_ceil(1000))),
        Some(end) => Time::Unix(end.saturating_sub(span_ms)),
    };
    Query::Series {
        devices: vec![id.to_owned()],
        measurements: vec![],
        from: Some(from),
        to: end_ms.map(Time::Unix),
        resolution: Resolution::Auto,
    }
}

/// Who asked, so that the answer reaches the right model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Every device's latest values.
    Last,
    /// A day of the cards' sparklines, for some devices.
    Cards,
    /// The charts of one device's page.
    Device(String),
    /// The broker page's charts of the broker's own statistics.
    Broker,
    /// A page of the events page's list, for the filter of `generation`:
    /// the first page, or the next older one.
    Events { generation: u64, older: bool },
}

impl Purpose {
    /// A newer question makes a queued one moot: the device page shows one
    /// range, the events page one filter, the cards want one `last`.
    fn supersedes(&self, queued: &Purpose) -> bool {
        match (self, queued) {
            (Purpose::Last, Purpose::Last)
            | (Purpose::Device(_), Purpose::Device(_))
            | (Purpose::Broker, Purpose::Broker) => true,
            (Purpose::Events { older: false, .. }, Purpose::Events { .. }) => true,
            (Purpose::Events { older: true, .. }, Purpose::Events { older, .. }) => *older,
            _ => false,
        }
    }

    /// Could `answer` be the answer to this question?
    fn fits(&self, answer: &Answer) -> bool {
        matches!(
            (self, answer),
            (_, Answer::Error(_))
                | (Purpose::Last, Answer::Last(_))
                | (
                    Purpose::Cards | Purpose::Device(_) | Purpose::Broker,
                    Answer::Series(_)
                )
                | (Purpose::Events { .. }, Answer::Events(_))
        )
    }
}

/// A question sent and not answered yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Asked {
    pub purpose: Purpose,
    pub query: Query,
    /// When it went out (ms since the epoch, by this page's clock).
    pub at_ms: u64,
    /// Its correlation data.
    id: u64,
}

/// The questions of one dashboard, across its connections.
#[derive(Debug, Default)]
pub struct Asker {
    /// Where answers come, once the session's client id is known.
    reply: Option<String>,
    /// Subscribed to `reply` on the current connection.
    ready: bool,
    queue: VecDeque<(Purpose, Query)>,
    in_flight: Option<Asked>,
    next_id: u64,
}

impl Asker {
    /// The topic answers come on, once a session began.
    pub fn reply_topic(&self) -> Option<&str> {
        self.reply.as_deref()
    }

    /// Subscribed to the reply topic: questions may go out.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// A session began as `client_id`: the reply topic to subscribe to, and
    /// the previous one when it changed (to unsubscribe from).
    pub fn session(&mut self, client_id: &str) -> (String, Option<String>) {
        let topic = reply_topic(client_id);
        self.ready = false;
        self.in_flight = None;
        let old = self
            .reply
            .replace(topic.clone())
            .filter(|old| *old != topic);
        (topic, old)
    }

    /// A SUBACK: `Some` when it was for the reply topic, with whether the
    /// broker granted it. Granted, questions may go out.
    pub fn subscribed(
        &mut self,
        filters: &[String],
        results: &[Result<u8, String>],
    ) -> Option<Result<(), String>> {
        let reply = self.reply.as_deref()?;
        let index = filters.iter().position(|f| f == reply)?;
        let result = match results.get(index) {
            Some(Ok(_)) => Ok(()),
            Some(Err(why)) => Err(why.clone()),
            None => Err("no answer to the subscription".to_owned()),
        };
        self.ready = result.is_ok();
        Some(result)
    }

    /// The connection is gone: nothing is in flight any more and nothing
    /// goes out until the reply topic is subscribed again. Queued questions
    /// are dropped; the dashboard asks afresh after reconnecting.
    pub fn lost(&mut self) {
        self.ready = false;
        self.in_flight = None;
        self.queue.clear();
    }

    /// Queue a question; a queued one it makes moot goes.
    pub fn ask(&mut self, purpose: Purpose, query: Query) {
        self.queue.retain(|(queued, _)| !purpose.supersedes(queued));
        self.queue.push_back((purpose, query));
    }

    /// Questions waiting, the one in flight included.
    pub fn pending(&self) -> usize {
        self.queue.len() + usize::from(self.in_flight.is_some())
    }

    /// The next question to publish now, if one may go: subscribed, and
    /// no other in flight.
    pub fn next(&mut self, now_ms: u64) -> Option<Outgoing> {
        if !self.ready || self.in_flight.is_some() {
            return None;
        }
        let reply = self.reply.clone()?;
        let (purpose, query) = self.queue.pop_front()?;
        self.next_id += 1;
        let id = self.next_id;
        let payload = serde_json::to_vec(&query).expect("queries serialize");
        let mut out = Outgoing::simple(QUERY_TOPIC, payload, QoS::AtMostOnce, false);
        // MQTT 5 only (the session drops properties before v5).
        out.properties.response_topic = Some(ByteString::from(reply));
        out.properties.correlation_data = Some(Bytes::from(id.to_string()));
        out.properties.content_type = Some(ByteString::from("application/json"));
        self.in_flight = Some(Asked {
            purpose,
            query,
            at_ms: now_ms,
            id,
        });
        Some(out)
    }

    /// Sending [`Asker::next`]'s question failed: it is not in flight.
    pub fn unsent(&mut self) {
        self.in_flight = None;
    }

    /// A message arrived: `None` when it is not on the reply topic (not
    /// ours to take); `Some(None)` for a stray answer, to drop (nothing in
    /// flight, another question's correlation data, or not the kind of
    /// answer the question wants); else the question and its answer. An
    /// answer that does not read becomes an error answer.
    pub fn answer(
        &mut self,
        topic: &str,
        correlation: Option<&[u8]>,
        payload: &[u8],
    ) -> Option<Option<(Asked, Answer)>> {
        if self.reply.as_deref() != Some(topic) {
            return None;
        }
        let Some(asked) = &self.in_flight else {
            return Some(None);
        };
        if correlation.is_some_and(|c| c != asked.id.to_string().as_bytes()) {
            return Some(None);
        }
        let answer = Answer::parse(payload)
            .unwrap_or_else(|e| Answer::error(format!("an answer that does not read: {e}")));
        if !asked.purpose.fits(&answer) {
            return Some(None);
        }
        Some(self.in_flight.take().map(|asked| (asked, answer)))
    }

    /// The question in flight, when it waited longer than
    /// [`ANSWER_TIMEOUT_MS`]: given up, so the next may go.
    pub fn expire(&mut self, now_ms: u64) -> Option<Asked> {
        let late = self
            .in_flight
            .as_ref()
            .is_some_and(|a| now_ms.saturating_sub(a.at_ms) >= ANSWER_TIMEOUT_MS);
        late.then(|| self.in_flight.take()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(id: &str) -> (Purpose, Query) {
        let query = Query::Series {
            devices: vec![id.to_owned()],
            measurements: vec![],
            from: Some(Time::Relative("-24h".into())),
            to: None,
            resolution: Default::default(),
        };
        (Purpose::Device(id.to_owned()), query)
    }

    fn ready() -> Asker {
        let mut asker = Asker::default();
        let (topic, old) = asker.session("kite-dash-1");
        assert_eq!(
            (topic.as_str(), old),
            ("$kite/history/reply/kite-dash-1", None)
        );
        assert_eq!(
            asker.subscribed(&["#".into(), topic], &[Ok(0), Ok(1)]),
            Some(Ok(()))
        );
        asker
    }

    #[test]
    fn nothing_goes_out_before_the_reply_topic_is_subscribed() {
        let mut asker = Asker::default();
        asker.ask(Purpose::Last, Query::Last { devices: vec![] });
        assert_eq!(asker.next(0), None, "no session yet");
        let (topic, _) = asker.session("me");
        assert_eq!(asker.next(0), None, "not subscribed yet");
        assert_eq!(asker.subscribed(&["#".into()], &[Ok(0)]), None);
        assert_eq!(
            asker.subscribed(std::slice::from_ref(&topic), &[Err("NotAuthorized".into())]),
            Some(Err("NotAuthorized".into()))
        );
        assert_eq!(asker.next(0), None, "refused");
        asker.subscribed(&[topic], &[Ok(1)]);
        let out = asker.next(5).expect("goes out once subscribed");
        assert_eq!(out.topic, QUERY_TOPIC);
        assert_eq!(&out.payload[..], br#"{"op":"last"}"#);
        assert_eq!(
            out.properties.response_topic.as_deref(),
            Some("$kite/history/reply/me")
        );
        assert_eq!(out.properties.correlation_data.as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn one_question_at_a_time_and_answers_matched_by_correlation() {
        let mut asker = ready();
        let reply = asker.reply_topic().unwrap().to_owned();
        asker.ask(Purpose::Last, Query::Last { devices: vec![] });
        let (purpose, query) = device("sim-1");
        asker.ask(purpose, query);
        assert!(asker.next(10).is_some());
        assert_eq!(asker.next(11), None, "the first is still in flight");
        assert_eq!(asker.pending(), 2);
        let last = br#"{"ok":true,"devices":[]}"#;
        assert_eq!(
            asker.answer("devices/x/status", None, last),
            None,
            "not ours"
        );
        assert_eq!(asker.answer(&reply, Some(b"7"), last), Some(None), "stray");
        let series = br#"{"ok":true,"resolution":"1m","from":0,"to":1,"series":[]}"#;
        assert_eq!(
            asker.answer(&reply, None, series),
            Some(None),
            "3.1.1: a series answer cannot answer `last`"
        );
        let (asked, answer) = asker.answer(&reply, Some(b"1"), last).unwrap().unwrap();
        assert_eq!((asked.purpose, asked.at_ms), (Purpose::Last, 10));
        assert!(matches!(answer, Answer::Last(_)));
        let out = asker.next(20).expect("the next goes once answered");
        assert_eq!(out.properties.correlation_data.as_deref(), Some(&b"2"[..]));
        // 3.1.1: no correlation data; an error answer fits any question.
        let (asked, answer) = asker
            .answer(&reply, None, br#"{"ok":false,"error":"off"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(asked.purpose, Purpose::Device("sim-1".into()));
        assert_eq!(answer, Answer::error("off"));
        assert_eq!(
            asker.answer(&reply, None, last),
            Some(None),
            "nothing in flight"
        );
        assert_eq!(asker.pending(), 0);
    }

    #[test]
    fn newer_questions_replace_queued_ones_of_the_same_kind() {
        let mut asker = Asker::default();
        let events = |generation, older| Purpose::Events { generation, older };
        let query = || Query::Last { devices: vec![] };
        asker.ask(Purpose::Cards, query());
        asker.ask(Purpose::Cards, query());
        asker.ask(events(1, false), query());
        asker.ask(events(1, true), query());
        asker.ask(events(1, true), query());
        asker.ask(Purpose::Device("a".into()), query());
        asker.ask(Purpose::Device("b".into()), query());
        let purposes: Vec<Purpose> = asker.queue.iter().map(|q| q.0.clone()).collect();
        assert_eq!(
            purposes,
            [
                Purpose::Cards,
                Purpose::Cards,
                events(1, false),
                events(1, true),
                Purpose::Device("b".into())
            ]
        );
        asker.ask(events(2, false), query());
        assert_eq!(asker.queue.len(), 4, "a new filter drops both pages");
    }

    #[test]
    fn a_lost_connection_or_a_silent_broker_frees_the_line() {
        let mut asker = ready();
        asker.ask(Purpose::Last, Query::Last { devices: vec![] });
        asker.ask(Purpose::Cards, Query::Last { devices: vec![] });
        asker.next(1_000).unwrap();
        assert_eq!(asker.expire(1_000 + ANSWER_TIMEOUT_MS - 1), None);
        let given_up = asker.expire(1_000 + ANSWER_TIMEOUT_MS).unwrap();
        assert_eq!(given_up.purpose, Purpose::Last);
        assert!(asker.next(20_000).is_some(), "the next goes");
        asker.lost();
        assert!(!asker.is_ready());
        assert_eq!(asker.pending(), 0);
        // A new client id: the old reply topic is left.
        let (topic, old) = asker.session("other");
        assert_eq!(topic, "$kite/history/reply/other");
        assert_eq!(old.as_deref(), Some("$kite/history/reply/kite-dash-1"));
        assert_eq!(asker.session("other").1, None);
        asker.subscribed(&[topic], &[Ok(1)]);
        asker.ask(Purpose::Last, Query::Last { devices: vec![] });
        asker.next(0).unwrap();
        asker.unsent();
        assert_eq!(asker.pending(), 0);
    }

    #[test]
    fn an_unreadable_answer_is_an_error_answer() {
        let mut asker = ready();
        let reply = asker.reply_topic().unwrap().to_owned();
        asker.ask(Purpose::Last, Query::Last { devices: vec![] });
        asker.next(0).unwrap();
        let (_, answer) = asker.answer(&reply, None, b"not json").unwrap().unwrap();
        assert!(
            matches!(answer, Answer::Error(e) if e.error.starts_with("an answer that does not read"))
        );
    }

    #[test]
    fn the_questions_the_pages_ask() {
        assert_eq!(
            serde_json::to_string(&last_query()).unwrap(),
            r#"{"op":"last"}"#
        );
        let ids: Vec<String> = (0..120).map(|i| format!("sim-{i}")).collect();
        let cards = card_queries(&ids);
        assert_eq!(cards.len(), 3);
        assert!(
            matches!(&cards[2], Query::Series { devices, resolution: Resolution::Quarter, .. } if devices.len() == 20)
        );
        assert_eq!(
            serde_json::to_string(&device_query("sim-1", 86_400_000, None)).unwrap(),
            r#"{"op":"series","devices":["sim-1"],"from":"-86400s","resolution":"auto"}"#
        );
        assert_eq!(
            serde_json::to_string(&device_query("sim-1", 60_000, Some(1_000_000))).unwrap(),
            r#"{"op":"series","devices":["sim-1"],"from":940000,"to":1000000,"resolution":"auto"}"#
        );
    }
}
