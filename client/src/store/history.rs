//! The history part of the store: what the dashboard asks the broker's
//! history (`$kite/history/query`) and where the answers go. After every
//! CONNACK it subscribes to its reply topic; once the broker grants that,
//! it asks for every device's last values (and, with them, a day of each
//! card's sparklines), the events page's first page and the open device
//! page's charts. The pages ask for more (a range, a filter, an older
//! page) through [`HistoryStore`]'s actions.
//!
//! Answers come on the reply topic; [`HistoryStore::receive`] takes them
//! out of the message stream, so they reach neither the message list nor
//! the topic tree. The questions and their matching are
//! [`crate::state::history::Asker`]'s; this part sends and delivers.

use kite_convention::history::{Answer, Query};
use leptos::prelude::*;
use mqtt::Publish;

use super::{ConnectionStore, DataStore};
use crate::platform;
use crate::state::events::EventFilter;
use crate::state::history::{
    broker_query, card_queries, device_query, last_query, Asker, Purpose, ANSWER_TIMEOUT_MS,
};
use crate::state::ConnState;

/// QoS of the reply topic's subscription: answers are not to be dropped.
const REPLY_QOS: u8 = 1;

/// Asks the history and delivers its answers; `Copy`, like the signals
/// it holds.
#[derive(Clone, Copy)]
pub struct HistoryStore {
    connection: ConnectionStore,
    data: DataStore,
    asker: StoredValue<Asker, LocalStorage>,
    /// The open device page's question, asked again after a reconnect.
    device: StoredValue<Option<(String, Query)>>,
    /// Why the history cannot answer (a refused subscription, the history
    /// off on the broker, no answer), for the pages; `None` when it can.
    pub problem: RwSignal<Option<String>>,
}

impl HistoryStore {
    /// Asks nothing until the reply topic is subscribed.
    pub fn new(connection: ConnectionStore, data: DataStore) -> HistoryStore {
        let history = HistoryStore {
            connection,
            data,
            asker: StoredValue::new_local(Asker::default()),
            device: StoredValue::new(None),
            problem: RwSignal::new(None),
        };
        platform::every(1_000, move || history.tick());
        history
    }

    /// A session began: subscribe to its reply topic (and leave the one of
    /// an earlier client id).
    pub fn session(&self, client_id: &str) {
        let Some((topic, old)) = self.asker.try_update_value(|a| a.session(client_id)) else {
            return;
        };
        if let Some(old) = old {
            self.connection.unsubscribe(&old);
        }
        let listed = self
            .connection
            .subscriptions
            .with_untracked(|s| s.list.iter().any(|sub| sub.filter == topic));
        // Already listed: the transport renews it after each CONNACK.
        if !listed {
            if let Err(why) = self.connection.subscribe_builtin(&topic, REPLY_QOS) {
                self.problem.set(Some(format!("no reply topic: {why}")));
            }
        }
    }

    /// A SUBACK: once the reply topic is granted, ask what the pages show.
    pub fn subscribed(&self, filters: &[String], results: &[Result<u8, String>]) {
        match self
            .asker
            .try_update_value(|a| a.subscribed(filters, results))
            .flatten()
        {
            Some(Ok(())) => {
                self.problem.set(None);
                self.ask(Purpose::Last, last_query());
                self.ask(Purpose::Broker, broker_query());
                self.ask_events(false);
                if let Some((id, query)) = self.device.get_value() {
                    self.ask(Purpose::Device(id), query);
                }
            }
            Some(Err(why)) => self
                .problem
                .set(Some(format!("the broker refused the reply topic: {why}"))),
            None => {}
        }
    }

    /// The link changed: anything but connected stops the questions.
    pub fn state(&self, state: ConnState) {
        if state != ConnState::Connected {
            self.asker.update_value(Asker::lost);
        }
    }

    /// A message from the broker: true when it was an answer (taken here,
    /// not to be shown as a message).
    pub fn receive(&self, publish: &Publish) -> bool {
        let correlation = publish.properties.correlation_data.as_deref();
        let Some(answer) = self
            .asker
            .try_update_value(|a| a.answer(&publish.topic, correlation, &publish.payload))
            .flatten()
        else {
            return false;
        };
        if let Some((asked, answer)) = answer {
            self.deliver(asked.purpose, asked.at_ms, answer);
            self.pump();
        }
        true
    }

    /// The device page shows `id` over `span_ms` up to now (`end_ms`
    /// `None`) or up to `end_ms`: ask for its charts.
    pub fn show_device(&self, id: &str, span_ms: u64, end_ms: Option<u64>) {
        let query = device_query(id, span_ms, end_ms);
        self.device.set_value(Some((id.to_owned(), query.clone())));
        self.ask(Purpose::Device(id.to_owned()), query);
    }

    /// The page of device `id` closed (another may have opened already).
    pub fn leave_device(&self, id: &str) {
        self.device.update_value(|shown| {
            if shown.as_ref().is_some_and(|(shown, _)| shown == id) {
                *shown = None;
            }
        });
    }

    /// The events page's filter changed: ask for its first page.
    pub fn filter_events(&self, filter: EventFilter) {
        self.data.event_pages.update(|p| p.set_filter(filter));
        self.ask_events(false);
    }

    /// The events page wants the next older page.
    pub fn older_events(&self) {
        self.ask_events(true);
    }

    fn ask_events(&self, older: bool) {
        let mut asked = None;
        self.data.event_pages.update(|pages| {
            asked = pages.request(older).map(|q| (pages.generation, q));
        });
        if let Some((generation, query)) = asked {
            self.ask(Purpose::Events { generation, older }, query);
        }
    }

    fn ask(&self, purpose: Purpose, query: Query) {
        self.asker.update_value(|a| a.ask(purpose, query));
        self.pump();
    }

    /// Send the next question if one may go.
    fn pump(&self) {
        let now = platform::now_ms();
        let Some(out) = self.asker.try_update_value(|a| a.next(now)).flatten() else {
            return;
        };
        if self.connection.send(&out).is_err() {
            self.asker.update_value(Asker::unsent);
        }
    }

    /// Every second: give up on an answer that does not come.
    fn tick(&self) {
        let now = platform::now_ms();
        if let Some(asked) = self.asker.try_update_value(|a| a.expire(now)).flatten() {
            let why = format!(
                "the broker's history did not answer within {} s",
                ANSWER_TIMEOUT_MS / 1000
            );
            self.deliver(asked.purpose, asked.at_ms, Answer::error(why));
            self.pump();
        }
    }

    /// The answer to the question of `purpose` sent at `asked_ms`, to the
    /// model that asked. The latest answer about devices says whether the
    /// history has a problem.
    pub(super) fn deliver(&self, purpose: Purpose, asked_ms: u64, answer: Answer) {
        let problem = match &answer {
            Answer::Error(e) => Some(e.error.clone()),
            _ => None,
        };
        match (purpose, answer) {
            (Purpose::Last, Answer::Last(last)) => {
                self.data.devices.update(|d| {
                    d.merge_last(&last);
                });
                let ids: Vec<String> = last.devices.into_iter().map(|d| d.device).collect();
                for query in card_queries(&ids) {
                    self.ask(Purpose::Cards, query);
                }
            }
            (purpose @ (Purpose::Cards | Purpose::Device(_)), Answer::Series(series)) => {
                let background = purpose == Purpose::Cards;
                self.data.devices.update(|d| {
                    d.merge_series(&series, background);
                });
            }
            (Purpose::Broker, Answer::Series(series)) => {
                self.data.sys.update(|s| {
                    s.merge_past(&series);
                });
            }
            (Purpose::Events { generation, older }, answer) => {
                let page = match answer {
                    Answer::Events(page) => Ok(page),
                    Answer::Error(e) => Err(e.error),
                    _ => return,
                };
                let now = platform::now_ms();
                self.data.event_pages.update(|p| {
                    p.answered(generation, older, page, asked_ms, now);
                });
                // The events page shows its own failure.
                return;
            }
            _ => {}
        }
        if self.problem.with_untracked(|p| *p != problem) {
            self.problem.set(problem);
        }
    }
}
