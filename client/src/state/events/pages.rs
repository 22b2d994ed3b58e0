//! The events page's list from the broker's history: the pages fetched for
//! the page's filter (newest first, 100 at a time, each next one asked
//! with the last one's `next_before`), and the list the page shows: the
//! live events the history does not hold yet on top, then the history's.
//!
//! Which live events the history holds is told by when they were heard:
//! the broker answers a question with every event it recorded before it,
//! so an event heard before the first page was asked is in the history's
//! list, and one heard after the answer came is not. One heard in between
//! may be either; it is dropped when the first page holds an event like it
//! (same device, type, severity, message and source).

use kite_convention::history::{Cursor, EventsAnswer, Query, StoredEvent};
use kite_convention::Severity;

use super::{EventFilter, EventLog, LoggedEvent};

/// Events a page of the history holds.
pub const PAGE_SIZE: usize = 100;

/// How far back from the first page's question an event of the history can
/// be a copy of one heard live.
const COPY_WINDOW_MS: u64 = 10_000;

/// Where the history's list stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PageStatus {
    /// Not asked yet (not connected).
    #[default]
    Idle,
    /// The first page (or, `older`, the next one) is on its way.
    Loading {
        older: bool,
    },
    Loaded,
    /// The broker did not answer (its history off, or refused): the page
    /// lists what it hears live.
    Failed(String),
}

/// The history's pages for one filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventPages {
    pub filter: EventFilter,
    /// Counts the filters; an answer for an earlier one is ignored.
    pub generation: u64,
    /// Newest first: every page fetched for the filter.
    pub events: Vec<StoredEvent>,
    /// Where the next older page starts; `None` when there is none.
    pub next_before: Option<Cursor>,
    pub status: PageStatus,
    /// When the first page now held was asked and when it came (this
    /// page's clock); 0 while none is held.
    asked_ms: u64,
    answered_ms: u64,
}

/// One line of the events page.
#[derive(Clone, Debug, PartialEq)]
pub struct ShownEvent {
    /// Unique in the list: `live-<n>` or `past-<seq>`.
    pub key: String,
    /// When it happened (ms since the epoch).
    pub at_ms: u64,
    pub device: String,
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    /// `device` or `alarm`.
    pub source: String,
    /// Heard since the page opened (not from the history).
    pub live: bool,
}

impl EventPages {
    /// A new filter: the pages fetched for the old one go.
    pub fn set_filter(&mut self, filter: EventFilter) {
        *self = EventPages {
            filter,
            generation: self.generation + 1,
            ..EventPages::default()
        };
    }

    /// The question for the first page, or the next older one (`None` when
    /// there is no older page, or one is on its way); marks it loading.
    pub fn request(&mut self, older: bool) -> Option<Query> {
        let before = match older {
            false => None,
            true if self.status == PageStatus::Loaded => Some(self.next_before?),
            true => return None,
        };
        self.status = PageStatus::Loading { older };
        Some(self.filter.query(before))
    }

    /// The answer to the question for `generation` (first page or
    /// `older`), sent at `asked_ms` and come at `now_ms`; false when it was
    /// for an earlier filter.
    pub fn answered(
        &mut self,
        generation: u64,
        older: bool,
        answer: Result<EventsAnswer, String>,
        asked_ms: u64,
        now_ms: u64,
    ) -> bool {
        if generation != self.generation {
            return false;
        }
        match answer {
            Ok(page) => {
                if !older {
                    self.events.clear();
                    self.asked_ms = asked_ms;
                    self.answered_ms = now_ms;
                }
                self.events.extend(page.events);
                self.next_before = page.next_before;
                self.status = PageStatus::Loaded;
            }
            // An older page that failed leaves what is there.
            Err(why) if older => self.status = PageStatus::Failed(why),
            Err(why) => {
                self.events.clear();
                self.next_before = None;
                (self.asked_ms, self.answered_ms) = (0, 0);
                self.status = PageStatus::Failed(why);
            }
        }
        true
    }

    /// True when the history's first page is held (also while it is asked
    /// for again, after a reconnect).
    fn holds_first_page(&self) -> bool {
        self.answered_ms > 0
    }

    /// What the page lists: the live events matching the filter that the
    /// history's pages do not hold (at most `live_limit`), newest first,
    /// then the history's.
    pub fn shown(&self, log: &EventLog, live_limit: usize) -> Vec<ShownEvent> {
        let held = self.holds_first_page();
        // The first page's events that could be copies of ones heard while
        // it was on its way, each standing for one live event at most.
        let horizon = self.asked_ms.saturating_sub(COPY_WINDOW_MS);
        let mut copies: Vec<&StoredEvent> = match held {
            true => self.events.iter().take_while(|e| e.ts >= horizon).collect(),
            false => Vec::new(),
        };
        // Oldest first, so that the oldest live event takes a copy.
        let live: Vec<&LoggedEvent> = log
            .events
            .iter()
            .filter(|e| self.filter.matches(e))
            .filter(|e| !held || e.received_ms >= self.asked_ms)
            .filter(|e| {
                if !held || e.received_ms >= self.answered_ms {
                    return true;
                }
                let copy = copies.iter().position(|c| same(c, e));
                copy.map(|i| copies.remove(i)).is_none()
            })
            .collect();
        let mut out: Vec<ShownEvent> = live
            .into_iter()
            .rev()
            .take(live_limit)
            .map(|e| ShownEvent {
                key: format!("live-{}", e.seq),
                at_ms: e.ts.unwrap_or(e.received_ms),
                device: e.device.clone(),
                kind: e.kind.clone(),
                severity: e.severity,
                message: e.message.clone(),
                source: e.source.to_owned(),
                live: true,
            })
            .collect();
        out.extend(self.events.iter().map(|e| ShownEvent {
            key: format!("past-{}", e.seq),
            at_ms: e.ts,
            device: e.device.clone(),
            kind: e.kind.clone(),
            severity: e.severity,
            message: e.message.clone(),
            source: e.source.clone(),
            live: false,
        }));
        out
    }

    /// The devices to filter by: those of the events here and live, and
    /// `known` ones, sorted.
    pub fn device_choices(
        &self,
        log: &EventLog,
        known: impl IntoIterator<Item = String>,
    ) -> Vec<String> {
        let mut ids: Vec<String> = log.devices();
        ids.extend(self.events.iter().map(|e| e.device.clone()));
        ids.extend(known);
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Is the history's `stored` the event heard live as `live`?
fn same(stored: &StoredEvent, live: &LoggedEvent) -> bool {
    stored.device == live.device
        && stored.kind == live.kind
        && stored.severity == live.severity
        && stored.message == live.message
        && stored.source == live.source
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: u64, ts: u64, device: &str, kind: &str) -> StoredEvent {
        StoredEvent {
            ts,
            seq,
            device: device.into(),
            kind: kind.into(),
            severity: Severity::Info,
            message: String::new(),
            source: "device".into(),
        }
    }

    fn page(events: Vec<StoredEvent>, next: Option<Cursor>) -> Result<EventsAnswer, String> {
        Ok(EventsAnswer {
            ok: true,
            events,
            next_before: next,
        })
    }

    fn hear(log: &mut EventLog, device: &str, kind: &str, at: u64) {
        let payload = format!(r#"{{"type":"{kind}"}}"#);
        assert!(log.apply(
            &format!("devices/{device}/events"),
            payload.as_bytes(),
            false,
            at
        ));
    }

    fn keys(shown: &[ShownEvent]) -> Vec<String> {
        shown
            .iter()
            .map(|e| format!("{} {}", e.key, e.kind))
            .collect()
    }

    #[test]
    fn the_history_first_then_live_events_on_top_each_once() {
        let mut log = EventLog::default();
        let mut pages = EventPages::default();
        // Heard before the question: the history holds it.
        hear(&mut log, "d", "before", 1_000);
        let query = pages.request(false).unwrap();
        assert!(matches!(
            query,
            Query::Events {
                before: None,
                limit: Some(PAGE_SIZE),
                ..
            }
        ));
        assert_eq!(pages.status, PageStatus::Loading { older: false });
        assert_eq!(
            keys(&pages.shown(&log, 10)),
            ["live-0 before"],
            "live until it comes"
        );
        // Heard while the question was on its way: one in the answer, one not.
        hear(&mut log, "d", "recorded", 2_100);
        hear(&mut log, "d", "too-late", 2_200);
        let answer = page(
            vec![
                stored(12, 2_050, "d", "recorded"),
                stored(11, 1_000, "d", "before"),
                stored(10, 500, "d", "old"),
            ],
            Some(Cursor { ts: 500, seq: 10 }),
        );
        assert!(pages.answered(pages.generation, false, answer, 2_000, 2_300));
        // Heard after the answer.
        hear(&mut log, "d", "after", 3_000);
        assert_eq!(
            keys(&pages.shown(&log, 10)),
            [
                "live-3 after",
                "live-2 too-late",
                "past-12 recorded",
                "past-11 before",
                "past-10 old"
            ]
        );
        assert_eq!(
            keys(&pages.shown(&log, 1))[..2],
            ["live-3 after", "past-12 recorded"]
        );
    }

    #[test]
    fn older_pages_follow_next_before_until_there_is_none() {
        let mut pages = EventPages::default();
        assert_eq!(pages.request(true), None, "no first page yet");
        pages.request(false).unwrap();
        let cursor = Cursor { ts: 5, seq: 2 };
        pages.answered(
            0,
            false,
            page(vec![stored(3, 6, "a", "x")], Some(cursor)),
            0,
            1,
        );
        let older = pages.request(true).unwrap();
        assert!(matches!(older, Query::Events { before: Some(c), .. } if c == cursor));
        assert_eq!(pages.request(true), None, "one at a time");
        pages.answered(0, true, page(vec![stored(2, 5, "a", "y")], None), 10, 11);
        let log = EventLog::default();
        assert_eq!(keys(&pages.shown(&log, 10)), ["past-3 x", "past-2 y"]);
        assert_eq!(pages.next_before, None);
        assert_eq!(pages.request(true), None, "the oldest page came");
        // A failed older page keeps what is there.
        pages.next_before = Some(cursor);
        pages.request(true).unwrap();
        pages.answered(0, true, Err("gone".into()), 0, 0);
        assert_eq!(pages.shown(&log, 10).len(), 2);
    }

    #[test]
    fn a_new_filter_starts_over_and_late_answers_are_ignored() {
        let mut log = EventLog::default();
        hear(&mut log, "a", "x", 1);
        hear(&mut log, "b", "y", 2);
        let mut pages = EventPages::default();
        pages.request(false).unwrap();
        pages.set_filter(EventFilter {
            device: "b".into(),
            min_severity: Severity::Warning,
            text: " door ".into(),
        });
        assert_eq!(pages.generation, 1);
        assert!(!pages.answered(0, false, page(vec![stored(1, 1, "a", "x")], None), 0, 5));
        assert_eq!(
            pages.request(false),
            Some(Query::Events {
                devices: vec!["b".into()],
                severity: Some(Severity::Warning),
                text: Some("door".into()),
                before: None,
                limit: Some(PAGE_SIZE),
            })
        );
        // Live events are filtered as the history filters them.
        pages.set_filter(EventFilter {
            text: "B".into(),
            ..EventFilter::default()
        });
        assert_eq!(
            keys(&pages.shown(&log, 10)),
            ["live-1 y"],
            "the text matches device ids too"
        );
    }

    #[test]
    fn without_a_history_the_page_lists_what_it_hears() {
        let mut log = EventLog::default();
        hear(&mut log, "a", "x", 1);
        let mut pages = EventPages::default();
        pages.request(false).unwrap();
        pages.answered(0, false, Err("the history is off".into()), 0, 5);
        assert_eq!(
            pages.status,
            PageStatus::Failed("the history is off".into())
        );
        assert_eq!(keys(&pages.shown(&log, 10)), ["live-0 x"]);
        assert_eq!(
            pages.device_choices(&log, ["c".to_owned(), "a".to_owned()]),
            ["a", "c"]
        );
    }

    #[test]
    fn asked_again_after_a_reconnect_the_list_stays_without_duplicates() {
        let mut log = EventLog::default();
        let mut pages = EventPages::default();
        hear(&mut log, "d", "heard", 1_000);
        pages.request(false).unwrap();
        let first = page(vec![stored(1, 1_000, "d", "heard")], None);
        pages.answered(0, false, first, 2_000, 2_100);
        pages.request(false).unwrap();
        assert_eq!(keys(&pages.shown(&log, 10)), ["past-1 heard"]);
        hear(&mut log, "d", "during", 3_000);
        let again = page(
            vec![
                stored(2, 2_990, "d", "during"),
                stored(1, 1_000, "d", "heard"),
            ],
            None,
        );
        pages.answered(0, false, again, 2_900, 3_100);
        assert_eq!(
            keys(&pages.shown(&log, 10)),
            ["past-2 during", "past-1 heard"]
        );
    }
}
