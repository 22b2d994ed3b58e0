//! Downsampling, with no I/O: each reading of a series goes to the raw tier
//! as it is and into the open one-minute and fifteen-minute buckets
//! (minimum, maximum, sum and count). What changed is listed as [`Write`]s
//! for the store; a bucket is written again each time it changes, so the
//! store always holds it as of the last commit.

use kite_convention::history::Resolution;

/// Minimum, maximum, sum and count of the readings in one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: u64,
}

impl Bucket {
    pub(crate) fn of(value: f64) -> Bucket {
        Bucket {
            min: value,
            max: value,
            sum: value,
            count: 1,
        }
    }

    pub(crate) fn add(&mut self, value: f64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.count += 1;
    }

    /// Both buckets' readings in one (a bucket stored before a restart and
    /// the readings of the same span after it).
    pub(crate) fn merge(&mut self, other: &Bucket) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }

    #[cfg(test)]
    pub(crate) fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }
}

/// The two bucketed tiers, finest first.
pub(crate) const TIERS: [Resolution; 2] = [Resolution::Minute, Resolution::Quarter];

/// One change for the store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    Raw {
        series: u32,
        ts: u64,
        value: f64,
    },
    /// Put (replace) a bucket of `tier`, keyed by its start.
    Bucket {
        series: u32,
        tier: Resolution,
        start: u64,
        bucket: Bucket,
    },
}

/// A series' open buckets, one per tier.
#[derive(Debug, Default, Clone)]
pub(crate) struct Open {
    buckets: [Option<(u64, Bucket)>; 2],
}

/// Where a bucket of `tier` that holds `ts` starts.
pub(crate) fn bucket_start(tier: Resolution, ts: u64) -> u64 {
    let width = tier.bucket_ms();
    ts - ts % width
}

impl Open {
    /// Take one reading of `series` at `ts`. `stored` gives the bucket the
    /// store already holds for a span this series has no open bucket for
    /// (after a restart), so its readings are not overwritten.
    pub(crate) fn record(
        &mut self,
        series: u32,
        ts: u64,
        value: f64,
        mut stored: impl FnMut(Resolution, u64) -> Option<Bucket>,
        out: &mut Vec<Write>,
    ) {
        out.push(Write::Raw { series, ts, value });
        for (slot, tier) in self.buckets.iter_mut().zip(TIERS) {
            let start = bucket_start(tier, ts);
            match slot {
                Some((open, bucket)) if *open == start => bucket.add(value),
                // A late reading for a bucket already closed: the store's
                // copy takes it, the open bucket stays.
                Some((open, _)) if *open > start => {
                    let bucket = match stored(tier, start) {
                        Some(mut bucket) => {
                            bucket.add(value);
                            bucket
                        }
                        None => Bucket::of(value),
                    };
                    out.push(Write::Bucket {
                        series,
                        tier,
                        start,
                        bucket,
                    });
                    continue;
                }
                _ => {
                    let mut bucket = Bucket::of(value);
                    if let Some(before) = stored(tier, start) {
                        bucket.merge(&before);
                    }
                    *slot = Some((start, bucket));
                }
            }
            let (start, bucket) = slot.expect("set above");
            out.push(Write::Bucket {
                series,
                tier,
                start,
                bucket,
            });
        }
    }

    /// The open bucket of `tier`, if any: the newest point of that tier.
    #[cfg(test)]
    pub(crate) fn bucket(&self, tier: Resolution) -> Option<(u64, Bucket)> {
        let index = TIERS.iter().position(|t| *t == tier)?;
        self.buckets[index]
    }
}

/// Collapse writes so each key is written once per commit, keeping the last.
pub(crate) fn coalesce(writes: &mut Vec<Write>) {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<Write> = Vec::with_capacity(writes.len());
    for write in writes.drain(..).rev() {
        let key = match &write {
            Write::Raw { series, ts, .. } => (*series, 0u64, *ts),
            Write::Bucket {
                series,
                tier,
                start,
                ..
            } => (*series, tier.bucket_ms(), *start),
        };
        if seen.insert(key) {
            kept.push(write);
        }
    }
    kept.reverse();
    *writes = kept;
}

/// The resolution `auto` means for a range of `span` ms, given which tiers
/// still hold data that old (`raw_kept`, `minute_kept`: how far back they
/// reach) and the most points a series may have.
pub(crate) fn auto_resolution(span: u64, age: u64, raw_kept: u64, minute_kept: u64) -> Resolution {
    let max = kite_convention::history::MAX_POINTS as u64;
    // Raw readings come every few seconds: a range of up to 2 hours fits.
    if age <= raw_kept && span <= 2 * 3_600_000 {
        Resolution::Raw
    } else if age <= minute_kept && span / Resolution::Minute.bucket_ms() <= max {
        Resolution::Minute
    } else {
        Resolution::Quarter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn buckets(writes: &[Write], tier: Resolution) -> Vec<(u64, Bucket)> {
        writes
            .iter()
            .filter_map(|w| match w {
                Write::Bucket {
                    tier: t,
                    start,
                    bucket,
                    ..
                } if *t == tier => Some((*start, *bucket)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn readings_fill_minute_and_quarter_buckets() {
        let mut open = Open::default();
        let mut out = Vec::new();
        let base = 1_700_000_100_000 - 1_700_000_100_000 % (15 * MIN);
        // Known values: 10, 20, 30 in the first minute; 5 in the second.
        for (offset, value) in [(0, 10.0), (10_000, 20.0), (59_999, 30.0), (MIN, 5.0)] {
            open.record(7, base + offset, value, |_, _| None, &mut out);
        }
        coalesce(&mut out);
        let raw: Vec<f64> = out
            .iter()
            .filter_map(|w| match w {
                Write::Raw { value, .. } => Some(*value),
                _ => None,
            })
            .collect();
        assert_eq!(raw, [10.0, 20.0, 30.0, 5.0]);
        let minutes = buckets(&out, Resolution::Minute);
        assert_eq!(minutes.len(), 2);
        assert_eq!(minutes[0].0, base);
        assert_eq!(
            (minutes[0].1.min, minutes[0].1.max, minutes[0].1.mean()),
            (10.0, 30.0, 20.0)
        );
        assert_eq!(minutes[1].0, base + MIN);
        assert_eq!(minutes[1].1, Bucket::of(5.0));
        let quarters = buckets(&out, Resolution::Quarter);
        assert_eq!(quarters.len(), 1, "coalesced to the last state");
        assert_eq!(quarters[0].1.count, 4);
        assert_eq!(quarters[0].1.mean(), 16.25);
        assert_eq!((quarters[0].1.min, quarters[0].1.max), (5.0, 30.0));
    }

    #[test]
    fn a_bucket_stored_before_a_restart_is_continued_not_replaced() {
        let mut open = Open::default();
        let mut out = Vec::new();
        let stored = Bucket {
            min: 1.0,
            max: 3.0,
            sum: 4.0,
            count: 2,
        };
        open.record(
            1,
            10 * MIN + 5,
            5.0,
            |tier, start| (tier == Resolution::Minute && start == 10 * MIN).then_some(stored),
            &mut out,
        );
        let minute = buckets(&out, Resolution::Minute)[0].1;
        assert_eq!((minute.min, minute.max, minute.count), (1.0, 5.0, 3));
        assert_eq!(minute.mean(), 3.0);
    }

    #[test]
    fn a_late_reading_goes_to_its_own_bucket() {
        let mut open = Open::default();
        let mut out = Vec::new();
        open.record(1, 5 * MIN, 1.0, |_, _| None, &mut out);
        out.clear();
        open.record(1, 4 * MIN + 1, 9.0, |_, _| None, &mut out);
        let minutes = buckets(&out, Resolution::Minute);
        assert_eq!(minutes, [(4 * MIN, Bucket::of(9.0))]);
        assert_eq!(
            open.bucket(Resolution::Minute),
            Some((5 * MIN, Bucket::of(1.0)))
        );
    }

    #[test]
    fn auto_picks_the_finest_tier_that_holds_the_range() {
        let hour = 3_600_000;
        assert_eq!(
            auto_resolution(hour, hour, 6 * hour, 48 * hour),
            Resolution::Raw
        );
        assert_eq!(
            auto_resolution(24 * hour, 24 * hour, 6 * hour, 48 * hour),
            Resolution::Minute
        );
        assert_eq!(
            auto_resolution(hour, 30 * hour, 6 * hour, 48 * hour),
            Resolution::Minute,
            "an hour a day ago: raw is gone"
        );
        assert_eq!(
            auto_resolution(7 * 24 * hour, 7 * 24 * hour, 6 * hour, 48 * hour),
            Resolution::Quarter
        );
    }
}
