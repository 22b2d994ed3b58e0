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

    /// The `i`-th oldest item (0 = oldest).
    pub fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    /// How many items, oldest first, `pred` holds for (it must hold for a
    /// prefix): a binary search.
    pub fn partition_point(&self, pred: impl FnMut(&T) -> bool) -> usize {
        self.items.partition_point(pred)
    }

    /// The `i`-th newest item (0 = newest).
    pub fn newest(&self, i: usize) -> Option<&T> {
        self.items.len().checked_sub(i + 1).map(|j| &self.items[j])
    }

    /// Take the oldest item out.
    pub fn pop_first(&mut self) -> Option<T> {
        self.items.pop_front()
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

/// Samples of one value over time, oldest first, in two parts: the past
/// (points from the broker's history, and live samples that aged out,
/// folded into one point a minute) and the samples heard live since,
/// bounded in number and age. The past always ends before the first live
/// sample: where both know a stretch of time, the live samples win, so the
/// junction has each reading once.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Oldest first, every one older than the first live sample.
    past: Vec<(u64, f64)>,
    samples: Ring<(u64, f64)>,
    /// Live samples older than this many ms behind the newest leave.
    max_age_ms: u64,
    /// How far back the past reaches behind the newest sample; 0 keeps no
    /// past (live samples that age out are dropped).
    past_age_ms: u64,
    /// The past's newest point while live samples fold into it: its
    /// minute, and the sum and count of the samples it is the mean of.
    fold: Option<(u64, f64, u32)>,
    /// The finest history resolution merged (ms per point, 0 for raw).
    finest_ms: Option<u64>,
}

/// A sample every 0.5 s for an hour, with room to spare.
pub const SERIES_CAPACITY: usize = 7_500;
pub const SERIES_MAX_AGE_MS: u64 = 3_600_000;
/// The past a device's series keeps: the longest chart range (7 days) and
/// a day of zooming out beyond it.
pub const PAST_MAX_AGE_MS: u64 = 8 * 86_400_000;
/// Live samples that age out are kept as one mean a minute.
pub const FOLD_MS: u64 = 60_000;
/// How far apart (ms) a history reading and the live sample it may be a
/// copy of can be: delivery time and the two clocks' difference.
pub const COPY_WINDOW_MS: u64 = 10_000;
/// Live samples compared with the history's to find where they begin.
const COPY_CHECK: usize = 6;

impl Default for Series {
    fn default() -> Series {
        Series::new(SERIES_CAPACITY, SERIES_MAX_AGE_MS)
    }
}

/// What the broker's history answered for one series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PastAnswer<'a> {
    /// `(ms, value)`, oldest first: readings, or bucket starts and means.
    pub points: &'a [(u64, f64)],
    /// The stretch of time the answer speaks for (what it does not list
    /// there did not happen).
    pub from: u64,
    pub to: u64,
    /// Ms a point stands for; 0 for raw readings.
    pub bucket_ms: u64,
    /// Asked for by the dashboard itself (the cards), not by someone
    /// looking: it does not replace finer points already held.
    pub background: bool,
}

impl Series {
    /// Live samples only: no past.
    pub fn new(capacity: usize, max_age_ms: u64) -> Series {
        Series {
            past: Vec::new(),
            samples: Ring::new(capacity),
            max_age_ms,
            past_age_ms: 0,
            fold: None,
            finest_ms: None,
        }
    }

    /// A device measurement's series: an hour of live samples, and a past
    /// of [`PAST_MAX_AGE_MS`] from the history and what ages out.
    pub fn with_past() -> Series {
        Series::default().keeping_past(PAST_MAX_AGE_MS)
    }

    /// Keep a past reaching `past_age_ms` behind the newest sample.
    pub fn keeping_past(self, past_age_ms: u64) -> Series {
        Series {
            past_age_ms,
            ..self
        }
    }

    /// Add a live sample; non-finite values are ignored. A sample older than
    /// the newest is kept in order by clamping its time to the newest's.
    pub fn push(&mut self, at_ms: u64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let at_ms = self.last().map_or(at_ms, |(t, _)| at_ms.max(t));
        if let Some(full) = self.samples.push((at_ms, value)) {
            self.age_out(full);
        }
        let horizon = at_ms.saturating_sub(self.max_age_ms);
        while self.samples.first().is_some_and(|s| s.0 < horizon) {
            if let Some(old) = self.samples.pop_first() {
                self.age_out(old);
            }
        }
        let past_horizon = at_ms.saturating_sub(self.past_age_ms);
        let keep = self.past.partition_point(|p| p.0 < past_horizon);
        self.past.drain(..keep);
    }

    /// A live sample left the ring: fold it into the past's minute mean.
    fn age_out(&mut self, (t, value): (u64, f64)) {
        if self.past_age_ms == 0 {
            return;
        }
        let minute = t - t % FOLD_MS;
        match (&mut self.fold, self.past.last_mut()) {
            (Some((m, sum, count)), Some(point)) if *m == minute => {
                *sum += value;
                *count += 1;
                point.1 = *sum / f64::from(*count);
            }
            _ => {
                self.fold = Some((minute, value, 1));
                self.past.push((t, value));
            }
        }
    }

    /// Take in what the history answered. Its points replace the past's in
    /// the stretch it covers; where the live samples begin, the past ends.
    /// The history's copies of readings also heard live go: for raw
    /// answers found by their values (the live samples' run of values
    /// within [`COPY_WINDOW_MS`] of the first one), so the broker stamping
    /// a reading a little before the page heard it cannot place it twice;
    /// otherwise by time. A live sample heard after the answer is new to
    /// the history (the broker sent the answer after every reading it
    /// holds), so nothing is compared then: [`Series::push`] appends it,
    /// never before the newest point. A broker clock ahead of the page's
    /// hides the history's readings of that many ms before the junction.
    /// False when nothing was taken (a series keeping no past).
    pub fn merge_past(&mut self, answer: PastAnswer) -> bool {
        if self.past_age_ms == 0 {
            return false;
        }
        let mut from = answer.from;
        if answer.background && self.finest_ms.is_some_and(|f| f < answer.bucket_ms) {
            // Keep the finer points; take only what is newer than them.
            from = from.max(self.past.last().map_or(0, |p| p.0 + 1));
        }
        let to = answer.to.max(from);
        let start = self.past.partition_point(|p| p.0 < from);
        let end = self.past.partition_point(|p| p.0 <= to);
        let new = answer
            .points
            .iter()
            .filter(|p| p.0 >= from && p.0 <= to && p.1.is_finite())
            .copied();
        self.past.splice(start..end, new);
        self.fold = None;
        self.finest_ms = Some(
            self.finest_ms
                .map_or(answer.bucket_ms, |f| f.min(answer.bucket_ms)),
        );
        if let Some((first_live, _)) = self.samples.first().copied() {
            let later = self.past.partition_point(|p| p.0 < first_live);
            let cut = if answer.bucket_ms == 0 {
                self.live_copies_from().unwrap_or(later).min(later)
            } else {
                later
            };
            self.past.truncate(cut);
        }
        true
    }

    /// Where in the past the copies of the first live samples begin: the
    /// point nearest in time to the first live sample from which the past's
    /// values run as the live ones do (up to [`COPY_CHECK`] of them).
    fn live_copies_from(&self) -> Option<usize> {
        let live: Vec<(u64, f64)> = self.samples.iter().take(COPY_CHECK).copied().collect();
        let (first_live, _) = *live.first()?;
        let lo = self
            .past
            .partition_point(|p| p.0 + COPY_WINDOW_MS < first_live);
        let hi = self
            .past
            .partition_point(|p| p.0 <= first_live + COPY_WINDOW_MS);
        (lo..hi)
            .filter(|&i| self.past[i..].iter().zip(&live).all(|(p, l)| p.1 == l.1))
            .min_by_key(|&i| self.past[i].0.abs_diff(first_live))
    }

    /// Samples held, past and live.
    pub fn len(&self) -> usize {
        self.past.len() + self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live samples held.
    pub fn live_len(&self) -> usize {
        self.samples.len()
    }

    /// The `i`-th sample, oldest first, past then live.
    fn at(&self, i: usize) -> (u64, f64) {
        match i.checked_sub(self.past.len()) {
            None => self.past[i],
            Some(j) => *self.samples.get(j).expect("in range"),
        }
    }

    /// The number of samples older than `t`.
    fn before(&self, t: u64) -> usize {
        let in_past = self.past.partition_point(|p| p.0 < t);
        if in_past < self.past.len() {
            return in_past;
        }
        in_past + self.samples.partition_point(|s| s.0 < t)
    }

    pub fn last(&self) -> Option<(u64, f64)> {
        self.samples.last().or_else(|| self.past.last()).copied()
    }

    pub fn first(&self) -> Option<(u64, f64)> {
        self.past.first().or_else(|| self.samples.first()).copied()
    }

    /// All samples, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, f64)> + '_ {
        self.past.iter().chain(self.samples.iter()).copied()
    }

    /// The newest `n` samples, oldest first.
    pub fn tail(&self, n: usize) -> Vec<(u64, f64)> {
        let skip = self.len().saturating_sub(n);
        self.iter().skip(skip).collect()
    }

    /// Samples with `from_ms <= t <= to_ms`, plus one on each side when there
    /// is one, so a line drawn from them crosses the window's edges.
    pub fn window(&self, from_ms: u64, to_ms: u64) -> Vec<(u64, f64)> {
        let start = self.before(from_ms).saturating_sub(1);
        let end = (self.before(to_ms.saturating_add(1)) + 1).min(self.len());
        (start..end).map(|i| self.at(i)).collect()
    }

    /// At most about `2 * columns` samples that draw the last `span_ms`
    /// (up to the newest sample) as a sparkline: all of them when there
    /// are few, else the newest sample of each of `columns` equal slices.
    /// Costs `columns` binary searches, not a pass over every sample.
    pub fn overview(&self, span_ms: u64, columns: usize) -> Vec<(u64, f64)> {
        let Some((t1, _)) = self.last() else {
            return Vec::new();
        };
        let t0 = t1.saturating_sub(span_ms);
        let start = self.before(t0);
        let len = self.len();
        if len - start <= 2 * columns.max(1) || t1 == t0 {
            return (start..len).map(|i| self.at(i)).collect();
        }
        let mut out: Vec<(u64, f64)> = Vec::with_capacity(columns + 1);
        out.push(self.at(start));
        for c in 1..=columns as u64 {
            let edge = t0 + (t1 - t0) * c / columns as u64;
            let i = self.before(edge.saturating_add(1));
            if let Some(point) = i.checked_sub(1).map(|i| self.at(i)) {
                if out.last() != Some(&point) {
                    out.push(point);
                }
            }
        }
        out
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

    fn raw(points: &[(u64, f64)], from: u64, to: u64) -> PastAnswer<'_> {
        PastAnswer {
            points,
            from,
            to,
            bucket_ms: 0,
            background: false,
        }
    }

    fn past_series() -> Series {
        Series::new(100, 60_000).keeping_past(1_000_000)
    }

    #[test]
    fn live_samples_continue_the_history_without_a_seam() {
        let mut series = past_series();
        assert!(series.merge_past(raw(&[(1_000, 1.0), (1_500, 2.0), (2_000, 3.0)], 0, 2_100)));
        series.push(2_600, 4.0);
        series.push(3_100, 5.0);
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [
                (1_000, 1.0),
                (1_500, 2.0),
                (2_000, 3.0),
                (2_600, 4.0),
                (3_100, 5.0)
            ]
        );
        assert_eq!((series.len(), series.live_len()), (5, 2));
        assert_eq!(series.first(), Some((1_000, 1.0)));
        assert_eq!(series.last(), Some((3_100, 5.0)));
        // A live sample stamped before the history's newest point (the
        // page's clock behind the broker's) is new, and kept in order.
        let mut behind = past_series();
        behind.merge_past(raw(&[(1_000, 1.0), (2_000, 2.0)], 0, 2_100));
        behind.push(1_990, 3.0);
        assert_eq!(
            behind.iter().collect::<Vec<_>>(),
            [(1_000, 1.0), (2_000, 2.0), (2_000, 3.0)]
        );
    }

    #[test]
    fn readings_heard_live_and_in_the_answer_are_kept_once() {
        // The page heard 3 and 4 (stamped 5 ms after the broker did) before
        // the answer came, and 5 that the answer no longer holds.
        let mut series = past_series();
        for (t, v) in [(2_005, 3.0), (2_505, 4.0), (3_005, 5.0)] {
            series.push(t, v);
        }
        let history = [(1_000, 1.0), (1_500, 2.0), (2_000, 3.0), (2_500, 4.0)];
        series.merge_past(raw(&history, 0, 2_550));
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [
                (1_000, 1.0),
                (1_500, 2.0),
                (2_005, 3.0),
                (2_505, 4.0),
                (3_005, 5.0)
            ],
            "no duplicate at the junction, nothing missing"
        );
        // Repeated values: the run of values decides, not the first match.
        let mut series = past_series();
        for (t, v) in [(2_001, 7.0), (2_501, 8.0)] {
            series.push(t, v);
        }
        let history = [(1_000, 7.0), (1_500, 7.0), (2_000, 7.0), (2_500, 8.0)];
        series.merge_past(raw(&history, 0, 2_600));
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [(1_000, 7.0), (1_500, 7.0), (2_001, 7.0), (2_501, 8.0)]
        );
    }

    #[test]
    fn buckets_end_where_the_live_samples_begin() {
        let mut series = past_series();
        series.push(65_000, 5.0);
        let buckets = [(0, 1.0), (60_000, 4.0), (120_000, 9.0)];
        series.merge_past(PastAnswer {
            bucket_ms: 60_000,
            ..raw(&buckets, 0, 130_000)
        });
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [(0, 1.0), (60_000, 4.0), (65_000, 5.0)],
            "the bucket holding the first live sample stays; later ones are live"
        );
    }

    #[test]
    fn an_answer_replaces_the_stretch_it_covers_and_cards_keep_finer_points() {
        let mut series = past_series();
        series.merge_past(raw(
            &[(100, 1.0), (200, 2.0), (300, 3.0), (400, 4.0)],
            0,
            450,
        ));
        // A zoomed window: only 150..=350 changes.
        series.merge_past(PastAnswer {
            bucket_ms: 60_000,
            ..raw(&[(150, 9.0)], 150, 350)
        });
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [(100, 1.0), (150, 9.0), (400, 4.0)]
        );
        // The cards' coarse day keeps finer points and adds what is newer.
        let day = [(0, 5.0), (900, 6.0)];
        series.merge_past(PastAnswer {
            bucket_ms: 900_000,
            background: true,
            ..raw(&day, 0, 1_000)
        });
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [(100, 1.0), (150, 9.0), (400, 4.0), (900, 6.0)]
        );
        // Asked for by someone looking, it replaces them.
        series.merge_past(PastAnswer {
            bucket_ms: 900_000,
            ..raw(&day, 0, 1_000)
        });
        assert_eq!(series.iter().collect::<Vec<_>>(), day);
        // A series without a past takes nothing.
        assert!(!Series::default().merge_past(raw(&day, 0, 1_000)));
    }

    #[test]
    fn aged_live_samples_fold_into_minute_means() {
        let mut series = Series::new(100, 60_000).keeping_past(3_600_000);
        for i in 0..4 {
            series.push(i * 20_000, i as f64);
        }
        // At 180 s the samples before 120 s leave the live part: the first
        // minute's three as their mean, the second minute's one as it is.
        series.push(180_000, 9.0);
        assert_eq!(
            series.iter().collect::<Vec<_>>(),
            [(0, 1.0), (60_000, 3.0), (180_000, 9.0)]
        );
        assert_eq!(series.live_len(), 1);
        // Without a past, they are dropped.
        let mut plain = Series::new(100, 60_000);
        for i in 0..4 {
            plain.push(i * 20_000, i as f64);
        }
        plain.push(180_000, 9.0);
        assert_eq!(plain.len(), 1);
    }

    #[test]
    fn windows_and_overviews_span_past_and_live() {
        let mut series = Series::new(10_000, 10_000_000).keeping_past(100_000_000);
        let history: Vec<(u64, f64)> = (0..100).map(|i| (i * 1_000, i as f64)).collect();
        series.merge_past(raw(&history, 0, 99_500));
        for i in 100..200 {
            series.push(i * 1_000, i as f64);
        }
        let window = series.window(98_500, 101_500);
        assert_eq!(
            window.iter().map(|p| p.0).collect::<Vec<_>>(),
            [98_000, 99_000, 100_000, 101_000, 102_000]
        );
        let overview = series.overview(100_000, 10);
        assert!(overview.len() <= 11, "{overview:?}");
        assert_eq!(overview.first(), Some(&(99_000, 99.0)));
        assert_eq!(overview.last(), Some(&(199_000, 199.0)));
        assert_eq!(series.overview(3_000, 10).len(), 4, "few: all of them");
        assert!(Series::default().overview(1_000, 10).is_empty());
    }
}
