//! Bounded buffers: a generic ring that drops its oldest entry when full,
//! and a time series of `(ms, value)` samples built on it.

use std::collections::VecDeque;

/// A FIFO of at most `capacity` items: pushing onto a full ring drops the
/// oldest. Iterates oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// Items ever pushed, including those since dropped.
    pushed: u64,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Ring<T> {
        Ring {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            pushed: 0,
        }
    }

    /// Append `item`; returns the item dropped to make room, if any.
    pub fn push(&mut self, item: T) -> Option<T> {
        self.pushed += 1;
        let dropped = if self.items.len() == self.capacity {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        dropped
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items ever pushed (held or dropped).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    /// The newest item.
    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }

    pub fn first(&self) -> Option<&T> {
        self.items.front()
    }

    /// The `i`-th newest item (0 = newest).
    pub fn newest(&self, i: usize) -> Option<&T> {
        self.items.len().checked_sub(i + 1).map(|j| &self.items[j])
    }

    /// Drop the oldest items while `old` says so.
    pub fn drop_while(&mut self, mut old: impl FnMut(&T) -> bool) {
        while self.items.front().is_some_and(&mut old) {
            self.items.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.pushed = 0;
    }
}

/// Samples of one value over time, oldest first, bounded in number and age.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    samples: Ring<(u64, f64)>,
    /// Samples older than this many ms behind the newest are dropped.
    max_age_ms: u64,
}

/// A sample every 0.5 s for an hour, with room to spare.
pub const SERIES_CAPACITY: usize = 7_500;
pub const SERIES_MAX_AGE_MS: u64 = 3_600_000;

impl Default for Series {
    fn default() -> Series {
        Series::new(SERIES_CAPACITY, SERIES_MAX_AGE_MS)
    }
}

impl Series {
    pub fn new(capacity: usize, max_age_ms: u64) -> Series {
        Series {
            samples: Ring::new(capacity),
            max_age_ms,
        }
    }

    /// Add a sample; non-finite values are ignored. A sample older than the
    /// newest is kept in order by clamping its time to the newest's.
    pub fn push(&mut self, at_ms: u64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let at_ms = self.samples.last().map_or(at_ms, |&(t, _)| at_ms.max(t));
        self.samples.push((at_ms, value));
        let horizon = at_ms.saturating_sub(self.max_age_ms);
        self.samples.drop_while(|&(t, _)| t < horizon);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn last(&self) -> Option<(u64, f64)> {
        self.samples.last().copied()
    }

    pub fn first(&self) -> Option<(u64, f64)> {
        self.samples.first().copied()
    }

    /// All samples, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, f64)> + ExactSizeIterator + '_ {
        self.samples.iter().copied()
    }

    /// The newest `n` samples, oldest first.
    pub fn tail(&self, n: usize) -> Vec<(u64, f64)> {
        let skip = self.samples.len().saturating_sub(n);
        self.samples.iter().skip(skip).copied().collect()
    }

    /// Samples with `from_ms <= t <= to_ms`, plus one on each side when there
    /// is one, so a line drawn from them crosses the window's edges.
    pub fn window(&self, from_ms: u64, to_ms: u64) -> Vec<(u64, f64)> {
        let all: Vec<(u64, f64)> = self.iter().collect();
        let start = all.partition_point(|&(t, _)| t < from_ms);
        let end = all.partition_point(|&(t, _)| t <= to_ms);
        all[start.saturating_sub(1)..(end + 1).min(all.len())].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_drops_the_oldest() {
        let mut ring = Ring::new(3);
        assert_eq!(ring.push(1), None);
        ring.push(2);
        ring.push(3);
        assert_eq!(ring.push(4), Some(1));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.pushed(), 4);
        assert_eq!(ring.last(), Some(&4));
        assert_eq!(ring.first(), Some(&2));
        assert_eq!(ring.newest(0), Some(&4));
        assert_eq!(ring.newest(2), Some(&2));
        assert_eq!(ring.newest(3), None);
    }

    #[test]
    fn ring_of_zero_holds_one() {
        let mut ring = Ring::new(0);
        ring.push('a');
        ring.push('b');
        assert_eq!(ring.capacity(), 1);
        assert_eq!(ring.iter().collect::<Vec<_>>(), [&'b']);
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(ring.pushed(), 0);
    }

    #[test]
    fn ring_drop_while() {
        let mut ring = Ring::new(10);
        for i in 0..6 {
            ring.push(i);
        }
        ring.drop_while(|&i| i < 4);
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [4, 5]);
    }

    #[test]
    fn series_is_bounded_by_count_and_age() {
        let mut series = Series::new(4, 10_000);
        for i in 0..6 {
            series.push(i * 1000, i as f64);
        }
        assert_eq!(series.len(), 4);
        assert_eq!(series.first(), Some((2000, 2.0)));
        series.push(20_000, 9.0);
        assert_eq!(series.iter().collect::<Vec<_>>(), [(20_000, 9.0)]);
        series.push(21_000, f64::NAN);
        assert_eq!(series.len(), 1);
    }

    #[test]
    fn series_keeps_time_order() {
        let mut series = Series::default();
        series.push(5000, 1.0);
        series.push(4000, 2.0);
        assert_eq!(series.last(), Some((5000, 2.0)));
    }

    #[test]
    fn series_window_includes_one_sample_beyond_each_edge() {
        let mut series = Series::default();
        for t in [0, 10, 20, 30, 40] {
            series.push(t, t as f64);
        }
        let times: Vec<u64> = series.window(15, 25).iter().map(|s| s.0).collect();
        assert_eq!(times, [10, 20, 30]);
        let times: Vec<u64> = series.window(0, 100).iter().map(|s| s.0).collect();
        assert_eq!(times, [0, 10, 20, 30, 40]);
        assert_eq!(series.window(100, 200), [(40, 40.0)]);
        assert_eq!(series.tail(2), [(30, 30.0), (40, 40.0)]);
        assert!(Series::default().window(0, 1).is_empty());
    }
}
