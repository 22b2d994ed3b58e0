//! The publish token bucket behind `--max-publish-rate`.

use std::time::{Duration, Instant};

/// `--max-publish-rate`: a token bucket holding at most one second of
/// tokens (at least one), refilled continuously. No task, no timer: the
/// connection asks it with the current time.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` tokens per second; `None` when `rate` is 0 (no limit).
    pub(crate) fn new(rate: f64, now: Instant) -> Option<TokenBucket> {
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
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is there (zero when one is there now).
    pub(crate) fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }
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
}
