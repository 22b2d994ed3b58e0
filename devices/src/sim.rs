//! Signal models for simulated devices: pure functions of a seeded random
//! generator and a simulated clock, so a fixed seed gives a fixed sequence.
//!
//! Each model is small and separate (temperature, humidity, battery,
//! signal) so a device kind picks the ones it has; the random draws happen
//! in a fixed order per step, which is what makes runs reproducible.

use std::f64::consts::TAU;

/// A small, fast, seedable generator (xorshift64*): enough for simulation, no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Zero is a fixed point of xorshift; mix the seed so 0 works too.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[low, high)`.
    pub fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Roughly normal with mean 0 and standard deviation 1 (sum of uniforms:
    /// cheap, bounded, and close enough for sensor noise).
    pub fn gauss(&mut self) -> f64 {
        (0..4).map(|_| self.unit()).sum::<f64>() * 3f64.sqrt() - 2.0 * 3f64.sqrt()
    }

    /// An index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }
}

/// Seconds in a day.
pub const DAY: f64 = 86_400.0;

/// Temperature: a daily cycle (warmest mid-afternoon), a slow drift that
/// wanders and returns (weather, heating), and sensor noise.
#[derive(Debug, Clone)]
pub struct Temperature {
    pub base: f64,
    /// Half the difference between the warmest and coolest hour.
    pub amplitude: f64,
    drift: f64,
}

impl Temperature {
    pub fn new(base: f64, amplitude: f64) -> Temperature {
        Temperature {
            base,
            amplitude,
            drift: 0.0,
        }
    }

    /// Degrees Celsius at `seconds_of_day`, one decimal.
    pub fn next(&mut self, rng: &mut Rng, seconds_of_day: f64) -> f64 {
        // Peak at 15:00: sin is 1 a quarter day after 09:00.
        let daily = self.amplitude * (TAU * (seconds_of_day - 9.0 * 3600.0) / DAY).sin();
        // Mean-reverting random walk: drifts by tenths, stays within ~1.5 °C.
        self.drift = self.drift * 0.98 + 0.06 * rng.gauss();
        let value = self.base + daily + self.drift + 0.1 * rng.gauss();
        (value * 10.0).round() / 10.0
    }
}

/// Relative humidity: falls as the air warms, plus noise. Percent, whole.
pub fn humidity(rng: &mut Rng, base: f64, temperature: f64, base_temperature: f64) -> f64 {
    let value = base - 2.5 * (temperature - base_temperature) + 0.7 * rng.gauss();
    value.clamp(15.0, 98.0).round()
}

/// What happened to a battery this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatteryChange {
    None,
    /// Crossed below [`Battery::LOW`] (once per discharge).
    Low,
    /// Crossed below [`Battery::CRITICAL`] (once per discharge).
    Critical,
    /// Somebody put fresh batteries in.
    Replaced,
}

/// A battery that drains a little every step and is replaced now and then
/// once it is low (people notice late, not at once).
#[derive(Debug, Clone)]
pub struct Battery {
    level: f64,
    drain: f64,
    warned_low: bool,
    warned_critical: bool,
}

impl Battery {
    pub const LOW: f64 = 15.0;
    pub const CRITICAL: f64 = 5.0;

    pub fn new(level: f64, drain_per_step: f64) -> Battery {
        Battery {
            level: level.clamp(0.0, 100.0),
            drain: drain_per_step,
            warned_low: false,
            warned_critical: false,
        }
    }

    /// Percent, whole.
    pub fn percent(&self) -> f64 {
        self.level.round().clamp(0.0, 100.0)
    }

    pub fn next(&mut self, rng: &mut Rng) -> BatteryChange {
        // Replacement: likelier the flatter it is, certain when empty.
        let replace_chance = if self.level < Battery::CRITICAL {
            0.02
        } else if self.level < Battery::LOW {
            0.002
        } else {
            0.0
        };
        if rng.chance(replace_chance) || self.level <= 0.5 {
            *self = Battery::new(100.0, self.drain);
            return BatteryChange::Replaced;
        }
        // Radio bursts cost more than idle time: drain varies per step.
        self.level = (self.level - self.drain * rng.range(0.5, 1.5)).max(0.0);
        if self.level < Battery::CRITICAL && !self.warned_critical {
            self.warned_critical = true;
            self.warned_low = true;
            BatteryChange::Critical
        } else if self.level < Battery::LOW && !self.warned_low {
            self.warned_low = true;
            BatteryChange::Low
        } else {
            BatteryChange::None
        }
    }
}

/// Received signal strength in dBm: wanders around a base, fades for a few
/// steps now and then (a door closes, someone stands in the way), and
/// drops out entirely on rare occasions, when the device loses its link.
#[derive(Debug, Clone)]
pub struct Signal {
    pub base: f64,
    wander: f64,
    fade_steps: u32,
    fade_depth: f64,
}

/// The level reported while the link is gone.
pub const SIGNAL_LOST: f64 = -110.0;

impl Signal {
    pub fn new(base: f64) -> Signal {
        Signal {
            base,
            wander: 0.0,
            fade_steps: 0,
            fade_depth: 0.0,
        }
    }

    /// dBm, whole.
    pub fn next(&mut self, rng: &mut Rng) -> f64 {
        self.wander = self.wander * 0.9 + 1.0 * rng.gauss();
        if self.fade_steps == 0 && rng.chance(0.01) {
            self.fade_steps = 2 + rng.below(8) as u32;
            self.fade_depth = rng.range(12.0, 28.0);
        }
        let fade = if self.fade_steps > 0 {
            self.fade_steps -= 1;
            self.fade_depth
        } else {
            0.0
        };
        let value = self.base + self.wander + 2.0 * rng.gauss() - fade;
        value.round().max(SIGNAL_LOST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn gauss_is_centred_and_bounded() {
        let mut rng = Rng::new(3);
        let samples: Vec<f64> = (0..10_000).map(|_| rng.gauss()).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((var - 1.0).abs() < 0.1, "{var}");
        assert!(samples.iter().all(|x| x.abs() <= 2.0 * 3f64.sqrt()));
    }

    #[test]
    fn temperature_follows_the_day() {
        let mut rng = Rng::new(7);
        let mut t = Temperature::new(20.0, 4.0);
        let at = |t: &mut Temperature, rng: &mut Rng, hour: f64| {
            (0..50).map(|_| t.next(rng, hour * 3600.0)).sum::<f64>() / 50.0
        };
        let afternoon = at(&mut t, &mut rng, 15.0);
        let night = at(&mut t, &mut rng, 3.0);
        assert!(afternoon - night > 5.0, "{afternoon} vs {night}");
        for step in 0..20_000 {
            let v = t.next(&mut rng, f64::from(step) * 30.0);
            assert!((10.0..30.0).contains(&v), "{v}");
        }
    }

    #[test]
    fn battery_drains_warns_once_and_gets_replaced() {
        let mut rng = Rng::new(11);
        let mut battery = Battery::new(20.0, 0.5);
        let changes: Vec<BatteryChange> = (0..400).map(|_| battery.next(&mut rng)).collect();
        let count = |c| changes.iter().filter(|x| **x == c).count();
        assert!(count(BatteryChange::Replaced) >= 1);
        let first_replacement = changes
            .iter()
            .position(|c| *c == BatteryChange::Replaced)
            .unwrap();
        let before = &changes[..first_replacement];
        assert_eq!(
            before.iter().filter(|c| **c == BatteryChange::Low).count(),
            1
        );
        assert!(
            before
                .iter()
                .filter(|c| **c == BatteryChange::Critical)
                .count()
                <= 1
        );
        assert!((0.0..=100.0).contains(&battery.percent()));
    }

    #[test]
    fn signal_wanders_fades_and_stays_plausible() {
        let mut rng = Rng::new(5);
        let mut signal = Signal::new(-65.0);
        let values: Vec<f64> = (0..5_000).map(|_| signal.next(&mut rng)).collect();
        assert!(values.iter().all(|v| (SIGNAL_LOST..=-30.0).contains(v)));
        assert!(values.iter().any(|v| *v < -85.0), "some fades");
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((-70.0..-62.0).contains(&mean), "{mean}");
    }
}
