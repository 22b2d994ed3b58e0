//! The connection state shown in the header, and the reconnect backoff.

use std::fmt;

/// What the dashboard shows as the connection state. The strings are part of
/// the page's contract (`#conn-state` holds exactly one of them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// A WebSocket is opening, or CONNECT was sent and CONNACK is awaited.
    Connecting,
    /// CONNACK accepted: messages flow.
    Connected,
    /// No connection; a reconnect may be scheduled.
    #[default]
    Disconnected,
}

impl ConnState {
    pub const ALL: [ConnState; 3] = [
        ConnState::Connecting,
        ConnState::Connected,
        ConnState::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Connected => "connected",
            ConnState::Disconnected => "disconnected",
        }
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exponential reconnect delay: 1 s, 2 s, 4 s, … capped at 30 s; back to 1 s
/// once a connection is accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial_ms: u32,
    max_ms: u32,
    next_ms: u32,
}

impl Backoff {
    pub const INITIAL_MS: u32 = 1_000;
    pub const MAX_MS: u32 = 30_000;

    pub fn new(initial_ms: u32, max_ms: u32) -> Backoff {
        let initial_ms = initial_ms.max(1);
        let max_ms = max_ms.max(initial_ms);
        Backoff {
            initial_ms,
            max_ms,
            next_ms: initial_ms,
        }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay_ms(&mut self) -> u32 {
        let delay = self.next_ms;
        self.next_ms = self.next_ms.saturating_mul(2).min(self.max_ms);
        delay
    }

    /// The next delay with jitter: uniform in `[delay / 2, delay]`, from
    /// `random` in `[0, 1)`, so many dashboards that lost the same broker do
    /// not all come back in the same instant.
    pub fn next_jittered_ms(&mut self, random: f64) -> u32 {
        let delay = f64::from(self.next_delay_ms());
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (delay / 2.0 + delay / 2.0 * random).round() as u32
    }

    /// Peek at the delay the next call to [`Backoff::next_delay_ms`] returns.
    pub fn peek_ms(&self) -> u32 {
        self.next_ms
    }

    /// A connection succeeded (or the user asked for a new one): start over.
    pub fn reset(&mut self) {
        self.next_ms = self.initial_ms;
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new(Backoff::INITIAL_MS, Backoff::MAX_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_strings_are_the_page_contract() {
        let strings: Vec<&str> = ConnState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(strings, ["connecting", "connected", "disconnected"]);
        assert_eq!(ConnState::default(), ConnState::Disconnected);
        assert_eq!(ConnState::Connected.to_string(), "connected");
    }

    #[test]
    fn backoff_doubles_from_one_second_to_thirty() {
        let mut backoff = Backoff::default();
        let delays: Vec<u32> = (0..8).map(|_| backoff.next_delay_ms()).collect();
        assert_eq!(
            delays,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
    }

    #[test]
    fn backoff_resets_after_success() {
        let mut backoff = Backoff::default();
        backoff.next_delay_ms();
        backoff.next_delay_ms();
        assert_eq!(backoff.peek_ms(), 4_000);
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(), 1_000);
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.next_jittered_ms(0.0), 500);
        assert_eq!(backoff.next_jittered_ms(0.999_999), 2_000);
        assert_eq!(backoff.next_jittered_ms(0.5), 3_000);
        assert_eq!(backoff.next_jittered_ms(f64::NAN), 4_000);
        assert_eq!(backoff.peek_ms(), 16_000);
    }

    #[test]
    fn backoff_never_overflows() {
        let mut backoff = Backoff::new(u32::MAX / 2 + 1, u32::MAX);
        backoff.next_delay_ms();
        assert_eq!(backoff.next_delay_ms(), u32::MAX);
        assert_eq!(backoff.next_delay_ms(), u32::MAX);
    }
}
