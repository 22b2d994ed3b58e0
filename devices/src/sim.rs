//! Signal models for simulated devices: pure functions of a seeded random
//! generator and elapsed time, so a fixed seed gives a fixed sequence.

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
}

/// One reading of a device's measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// Degrees Celsius, one decimal.
    pub temperature: f64,
    /// Percent, whole.
    pub battery: u8,
    /// dBm, whole.
    pub signal: i32,
}

impl Reading {
    /// The telemetry payload: a JSON object of the measurements.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"temperature\":{:.1},\"battery\":{},\"signal\":{}}}",
            self.temperature, self.battery, self.signal
        )
    }

    /// Each measurement with its topic suffix and bare-number payload.
    pub fn measurements(&self) -> [(&'static str, String); 3] {
        [
            ("temperature", format!("{:.1}", self.temperature)),
            ("battery", self.battery.to_string()),
            ("signal", self.signal.to_string()),
        ]
    }
}

/// The evolving state of one simulated device.
#[derive(Debug, Clone)]
pub struct Simulation {
    rng: Rng,
    base_temperature: f64,
    battery: f64,
    drain_per_step: f64,
    base_signal: f64,
    step: u64,
}

impl Simulation {
    pub fn new(seed: u64) -> Simulation {
        let mut rng = Rng::new(seed);
        Simulation {
            base_temperature: rng.range(18.0, 24.0),
            battery: rng.range(40.0, 100.0),
            drain_per_step: rng.range(0.005, 0.05),
            base_signal: rng.range(-85.0, -50.0),
            rng,
            step: 0,
        }
    }

    /// The next reading; `seconds_of_day` drives the daily temperature cycle.
    pub fn next(&mut self, seconds_of_day: f64) -> Reading {
        self.step += 1;
        let day = (seconds_of_day / 86_400.0) * std::f64::consts::TAU;
        // Warmest mid-afternoon, coolest before dawn.
        let daily = 3.0 * (day - std::f64::consts::FRAC_PI_2 * 1.6).sin();
        let temperature = self.base_temperature + daily + self.rng.range(-0.3, 0.3);
        self.battery -= self.drain_per_step;
        if self.battery < 3.0 {
            // Somebody replaced the batteries.
            self.battery = 100.0;
        }
        let mut signal = self.base_signal + self.rng.range(-4.0, 4.0);
        if self.rng.unit() < 0.01 {
            // A brief fade: a wall, a door, a passing truck.
            signal -= 25.0;
        }
        Reading {
            temperature: (temperature * 10.0).round() / 10.0,
            battery: self.battery.round().clamp(0.0, 100.0) as u8,
            signal: signal.round() as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_readings() {
        let mut a = Simulation::new(42);
        let mut b = Simulation::new(42);
        for t in 0..100 {
            assert_eq!(a.next(f64::from(t)), b.next(f64::from(t)));
        }
    }

    #[test]
    fn readings_stay_in_plausible_ranges() {
        let mut sim = Simulation::new(7);
        for t in 0..10_000 {
            let r = sim.next(f64::from(t) * 30.0);
            assert!((10.0..35.0).contains(&r.temperature), "{r:?}");
            assert!(r.battery <= 100);
            assert!((-130..-30).contains(&r.signal), "{r:?}");
        }
    }

    #[test]
    fn telemetry_json_has_every_measurement() {
        let r = Reading {
            temperature: 21.4,
            battery: 87,
            signal: -61,
        };
        assert_eq!(
            r.to_json(),
            r#"{"temperature":21.4,"battery":87,"signal":-61}"#
        );
    }
}
