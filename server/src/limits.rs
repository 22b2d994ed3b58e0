//! Limits and their counters: the connection slots behind
//! `--max-connections`, the per-client queue byte budget behind
//! `--max-queued-bytes`, the publish token bucket behind
//! `--max-publish-rate`, and one counter for each time a limit bites, shown
//! in `$SYS/broker/limits/...` and `/metrics`.

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{broker::Shared, message::Message};

/// How often each limit refused or cut something since start.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections closed at accept because `--max-connections` were open.
    pub connections_refused: AtomicU64,
    /// Connections lying dormant now (`--dormant-after`): a gauge.
    pub dormant: AtomicU64,
    /// Times a connection lay dormant since start.
    pub dormancies: AtomicU64,
    /// Connections closed because no CONNECT came within `--connect-timeout`
    /// (or the TLS handshake did not finish by then).
    pub connect_timeouts: AtomicU64,
    /// Connections closed because they took no data for `--write-timeout`.
    pub write_timeouts: AtomicU64,
    /// Connections closed for a packet above `--max-packet-size`.
    pub packets_too_large: AtomicU64,
    /// CONNECTs whose keepalive was above `--max-keepalive` (v5: lowered; 3.1.1: refused).
    pub keepalive_limited: AtomicU64,
    /// Deliveries that waited because the client's inflight window (`--max-inflight`) was full.
    pub inflight_waits: AtomicU64,
    /// Deliveries dropped because the client's queued bytes reached `--max-queued-bytes`.
    pub queued_bytes_dropped: AtomicU64,
    /// PUBLISH packets over `--max-publish-rate` (refused or throttled).
    pub publishes_rate_limited: AtomicU64,
    /// CONNECTs refused for a bad user name or password.
    pub auth_failures: AtomicU64,
    /// CONNECTs refused because anonymous clients are not allowed there.
    pub anonymous_refused: AtomicU64,
    /// PUBLISH packets (and wills) the ACL did not allow.
    pub acl_denied_publish: AtomicU64,
    /// Subscription filters the ACL did not allow.
    pub acl_denied_subscribe: AtomicU64,
    /// Deliveries withheld because the ACL does not let the subscriber read the topic.
    pub acl_denied_read: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: AtomicU64,
    /// PUBLISH packets and wills to topics only the broker writes
    /// (`$SYS`, the alarm engine's outputs) or to `$share/...`.
    pub broker_topics_refused: AtomicU64,
    /// Topic names and filters deeper than `--max-topic-levels`.
    pub topic_levels_refused: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Broker-wide limit state kept in [`Shared`].
#[derive(Debug, Default)]
pub struct Limits {
    pub counters: Counters,
    slots: Arc<AtomicUsize>,
}

impl Limits {
    /// Take a connection slot, or `None` when `max` (0: no limit) are open;
    /// the refusal is counted. The slot is given back when the guard drops.
    pub fn try_connection(&self, max: usize) -> Option<ConnectionSlot> {
        let taken = self
            .slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (max == 0 || open < max).then_some(open + 1)
            })
            .is_ok();
        if !taken {
            Counters::add(&self.counters.connections_refused);
            return None;
        }
        Some(ConnectionSlot {
            slots: self.slots.clone(),
        })
    }

    /// Network connections open now (MQTT over TCP, TLS and WebSocket).
    pub fn open_connections(&self) -> usize {
        self.slots.load(Ordering::Relaxed)
    }
}

/// One open connection counted against `--max-connections`.
#[derive(Debug)]
pub struct ConnectionSlot {
    slots: Arc<AtomicUsize>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The bytes waiting in one client's queue (`--max-queued-bytes`), and the
/// messages dropped for it. Shared by the queue's senders (router entries)
/// and its receiving connection.
#[derive(Debug, Default)]
pub struct QueueBudget {
    bytes: AtomicU64,
    dropped: AtomicU64,
}

impl QueueBudget {
    /// Count `size` more bytes unless that would pass `max`.
    pub fn try_charge(&self, size: u64, max: u64) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                queued.checked_add(size).filter(|&total| total <= max)
            })
            .is_ok()
    }

    /// A message left the queue.
    pub fn release(&self, size: u64) {
        let _ = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                Some(queued.saturating_sub(size))
            });
    }

    /// Bytes queued now.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Count a message dropped for this client (queue full by count or bytes).
    pub fn dropped_one(&self) -> u64 {
        self.dropped.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Messages dropped for this client so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What a queued message costs against `--max-queued-bytes`: its payload and topic.
pub fn queued_size(message: &Message) -> u64 {
    (message.payload.len() + message.topic.len()) as u64
}

/// `--max-publish-rate`: a token bucket holding at most one second of
/// tokens (at least one), refilled continuously. No task, no timer: the
/// connection asks it with the current time.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` tokens per second; `None` when `rate` is 0 (no limit).
    pub fn new(rate: f64, now: Instant) -> Option<TokenBucket> {
        (rate > 0.0 && rate.is_finite()).then(|| {
            let capacity = rate.max(1.0);
            TokenBucket {
                rate,
                capacity,
                tokens: capacity,
                last: now,
            }
        })
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
    }

    /// Take one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (zero when one is there now).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
}

/// A message dropped for one subscriber: counted globally
/// (`messages/dropped`), per reason, and per client, and logged at the
/// client's 1st, 2nd, 4th, 8th, … drop so a flood cannot flood the log.
pub fn note_drop(shared: &Shared, client_id: &str, budget: &QueueBudget, bytes_full: bool) {
    shared.stats.messages_dropped.add(1);
    if bytes_full {
        Counters::add(&shared.limits.counters.queued_bytes_dropped);
    }
    let dropped = budget.dropped_one();
    if dropped.is_power_of_two() {
        let limit = if bytes_full {
            "--max-queued-bytes"
        } else {
            "--max-queued-messages"
        };
        tracing::warn!(
            client_id,
            dropped,
            queued_bytes = budget.bytes(),
            "queue full ({limit}): messages to this client dropped"
        );
    }
}

/// Count a decode error that is a limit (`--max-packet-size`).
pub fn note_decode_error(err: &mqtt::DecodeError, shared: &Shared) {
    if matches!(err, mqtt::DecodeError::PacketTooLarge { .. }) {
        Counters::add(&shared.limits.counters.packets_too_large);
    }
}

/// The session limits from the configuration (`--max-inflight`).
pub fn server_limits(config: &crate::config::Config) -> crate::session::ServerLimits {
    crate::session::ServerLimits {
        receive_maximum: config.max_inflight,
        max_inflight: config.max_inflight,
        ..Default::default()
    }
}

/// Raise this process's open-file limit to its hard limit: every
/// connection is a file descriptor, and the usual soft limit (1024) is far
/// below what a broker serves. Returns the limit now in force.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    return Some(raised.rlim_cur as u64);
                }
            }
            Some(limit.rlim_cur as u64)
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `--max-publish-rate`: a finite number of messages per second, 0 or more.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        Ok(_) => Err("must be a number of messages per second, 0 or more".into()),
        Err(err) => Err(err.to_string()),
    }
}

/// One `$SYS/broker/...` statistic: topic, Prometheus metric, help, kind, value.
pub type SysStat = (&'static str, &'static str, &'static str, &'static str, u64);

/// The limit counters for `$SYS` and `/metrics`.
pub fn sys_stats(shared: &Shared) -> Vec<SysStat> {
    let c = &shared.limits.counters;
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    vec![
        (
            "connections/open",
            "kite_connections_open",
            "Network connections open now (counted against --max-connections).",
            "gauge",
            shared.limits.open_connections() as u64,
        ),
        (
            "connections/dormant",
            "kite_connections_dormant",
            "Quiet MQTT-over-TCP connections lying dormant now: no task, no buffers (--dormant-after).",
            "gauge",
            get(&c.dormant),
        ),
        (
            "connections/dormancies",
            "kite_dormancies_total",
            "Times a quiet connection lay dormant (and was woken or ended later).",
            "counter",
            get(&c.dormancies),
        ),
        (
            "limits/connections refused",
            "kite_connections_refused_total",
            "Connections closed at accept: --max-connections reached.",
            "counter",
            get(&c.connections_refused),
        ),
        (
            "limits/connect timeouts",
            "kite_connect_timeouts_total",
            "Connections closed: no CONNECT (or TLS handshake) within --connect-timeout.",
            "counter",
            get(&c.connect_timeouts),
        ),
        (
            "limits/write timeouts",
            "kite_write_timeouts_total",
            "Connections closed: they took no data for --write-timeout while the broker wrote to them.",
            "counter",
            get(&c.write_timeouts),
        ),
        (
            "limits/packets too large",
            "kite_packets_too_large_total",
            "Connections closed for a packet above --max-packet-size.",
            "counter",
            get(&c.packets_too_large),
        ),
        (
            "limits/keepalive limited",
            "kite_keepalive_limited_total",
            "CONNECTs asking for more than --max-keepalive (v5: lowered, 3.1.1: refused).",
            "counter",
            get(&c.keepalive_limited),
        ),
        (
            "limits/inflight waits",
            "kite_inflight_waits_total",
            "Deliveries that waited for room in the inflight window (--max-inflight).",
            "counter",
            get(&c.inflight_waits),
        ),
        (
            "limits/queued bytes dropped",
            "kite_queued_bytes_dropped_total",
            "Messages dropped because a client's queue reached --max-queued-bytes.",
            "counter",
            get(&c.queued_bytes_dropped),
        ),
        (
            "limits/publishes rate limited",
            "kite_publishes_rate_limited_total",
            "PUBLISH packets over --max-publish-rate (refused or throttled).",
            "counter",
            get(&c.publishes_rate_limited),
        ),
        (
            "security/auth failures",
            "kite_auth_failures_total",
            "CONNECTs refused for a bad user name or password.",
            "counter",
            get(&c.auth_failures),
        ),
        (
            "security/anonymous refused",
            "kite_anonymous_refused_total",
            "CONNECTs refused because anonymous clients are not allowed on that listener.",
            "counter",
            get(&c.anonymous_refused),
        ),
        (
            "security/acl denied publish",
            "kite_acl_denied_publish_total",
            "PUBLISH packets and wills the ACL did not allow.",
            "counter",
            get(&c.acl_denied_publish),
        ),
        (
            "security/acl denied subscribe",
            "kite_acl_denied_subscribe_total",
            "Subscription filters the ACL did not allow.",
            "counter",
            get(&c.acl_denied_subscribe),
        ),
        (
            "security/acl denied read",
            "kite_acl_denied_read_total",
            "Deliveries withheld because the ACL does not let the subscriber read the topic.",
            "counter",
            get(&c.acl_denied_read),
        ),
        (
            "security/broker topics refused",
            "kite_broker_topics_refused_total",
            "PUBLISH packets and wills to topics only the broker writes ($SYS, alarm outputs) or to $share/.",
            "counter",
            get(&c.broker_topics_refused),
        ),
        (
            "limits/topic levels refused",
            "kite_topic_levels_refused_total",
            "Topic names and filters deeper than --max-topic-levels.",
            "counter",
            get(&c.topic_levels_refused),
        ),
        (
            "security/tls failures",
            "kite_tls_failures_total",
            "TLS handshakes that failed or timed out.",
            "counter",
            get(&c.tls_failures),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_of_one_second_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, start).unwrap();
        for _ in 0..10 {
            assert!(bucket.try_take(start));
        }
        assert!(!bucket.try_take(start));
        let wait = bucket.wait(start);
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        // 100 ms later one token is back, not two.
        let later = start + Duration::from_millis(100);
        assert!(bucket.try_take(later));
        assert!(!bucket.try_take(later));
        // Never more than the capacity, however long the pause.
        let much_later = later + Duration::from_secs(3600);
        let taken = (0..100).filter(|_| bucket.try_take(much_later)).count();
        assert_eq!(taken, 10);
    }

    #[test]
    fn slow_rates_still_allow_one_message() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0.5, start).unwrap();
        assert!(bucket.try_take(start));
        assert!(!bucket.try_take(start));
        assert_eq!(bucket.wait(start), Duration::from_secs(2));
        assert!(bucket.try_take(start + Duration::from_secs(2)));
    }

    #[test]
    fn zero_rate_is_no_limit() {
        assert!(TokenBucket::new(0.0, Instant::now()).is_none());
    }

    #[test]
    fn queue_budget_charges_up_to_the_limit_and_releases() {
        let budget = QueueBudget::default();
        assert!(budget.try_charge(60, 100));
        assert!(!budget.try_charge(41, 100));
        assert!(budget.try_charge(40, 100));
        assert_eq!(budget.bytes(), 100);
        budget.release(60);
        assert_eq!(budget.bytes(), 40);
        budget.release(1000);
        assert_eq!(budget.bytes(), 0);
        assert_eq!(budget.dropped_one(), 1);
    }

    #[test]
    fn connection_slots_are_given_back() {
        let limits = Limits::default();
        let a = limits.try_connection(2).unwrap();
        let _b = limits.try_connection(2).unwrap();
        assert!(limits.try_connection(2).is_none());
        drop(a);
        assert!(limits.try_connection(2).is_some());
        assert_eq!(
            limits.counters.connections_refused.load(Ordering::Relaxed),
            1
        );
        assert!(Limits::default().try_connection(0).is_some());
    }
}
