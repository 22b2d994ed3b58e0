//! What the broker's history says of the devices, taken into the
//! [`DeviceBook`]: each device's last values (`{"op":"last"}`), shown at
//! once and until a live reading is newer, and the past points of its
//! series, which the live samples continue ([`Series::merge_past`]).
//!
//! The history names devices by id alone; an id means the device of that
//! id the dashboard has heard of (a Kite device first), else a Kite device.

use kite_convention::history::{LastAnswer, LastValue, SeriesAnswer, MAX_POINTS};
use kite_convention::Source;

use super::{DeviceBook, DeviceKey};
use crate::state::ring::{PastAnswer, Series};

/// A device as the history knows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PastDevice {
    /// When its newest reading reached the broker (ms since the epoch).
    pub last_seen: u64,
    /// Each measurement's latest value, when and in what unit.
    pub values: Vec<LastValue>,
}

impl PastDevice {
    /// A measurement's latest value and when it came.
    pub fn value(&self, measurement: &str) -> Option<(u64, f64)> {
        self.find(measurement).map(|v| (v.ts, v.value))
    }

    pub fn unit(&self, measurement: &str) -> Option<String> {
        self.find(measurement)?.unit.clone()
    }

    fn find(&self, measurement: &str) -> Option<&LastValue> {
        self.values.iter().find(|v| v.measurement == measurement)
    }
}

impl DeviceBook {
    /// Take in the answer to `{"op":"last"}`; true when it named a device.
    pub fn merge_last(&mut self, answer: &LastAnswer) -> bool {
        for device in &answer.devices {
            self.past.insert(
                device.device.clone(),
                PastDevice {
                    last_seen: device.last_seen,
                    values: device.measurements.clone(),
                },
            );
        }
        !answer.devices.is_empty()
    }

    /// Device ids the history knows, in natural order.
    pub fn past_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.past.keys().cloned().collect();
        ids.sort_unstable_by(|a, b| super::natural_cmp(a, b));
        ids
    }

    /// Take in a series answer; `background` when the dashboard asked of
    /// its own accord (the cards): then it does not replace finer points.
    /// True when a series took points.
    pub fn merge_series(&mut self, answer: &SeriesAnswer, background: bool) -> bool {
        let bucket_ms = answer.resolution.bucket_ms();
        let mut changed = false;
        for series in &answer.series {
            let points: Vec<(u64, f64)> = series.points.iter().map(|p| (p.0, p.1)).collect();
            // A series cut to its newest points speaks only from its first.
            let from = match points.first() {
                Some(&(first, _)) if points.len() >= MAX_POINTS => first,
                _ => answer.from,
            };
            let key = self.key_for(&series.device);
            changed |= self
                .extra
                .entry(key)
                .or_default()
                .series
                .entry(series.measurement.clone())
                .or_insert_with(Series::with_past)
                .merge_past(PastAnswer {
                    points: &points,
                    from,
                    to: answer.to,
                    bucket_ms,
                    background,
                });
        }
        changed
    }

    /// The device a history answer's id means.
    fn key_for(&self, id: &str) -> DeviceKey {
        let source = [Source::Kite, Source::HomeAssistant]
            .into_iter()
            .find(|&source| self.fleet.device(source, id).is_some())
            .unwrap_or(Source::Kite);
        DeviceKey::new(source, id)
    }
}

#[cfg(test)]
mod tests {
    use kite_convention::history::{LastDevice, Resolution, Series as PastSeries};

    use super::*;
    use crate::state::devices::tests::{announce_porch, kite};

    fn value(measurement: &str, value: f64, ts: u64) -> LastValue {
        LastValue {
            measurement: measurement.into(),
            value,
            ts,
            unit: None,
        }
    }

    fn last(device: &str, values: Vec<LastValue>) -> LastAnswer {
        LastAnswer {
            ok: true,
            devices: vec![LastDevice {
                device: device.into(),
                last_seen: values.iter().map(|v| v.ts).max().unwrap_or(0),
                measurements: values,
            }],
        }
    }

    fn shown(book: &DeviceBook, id: &str) -> Vec<(String, String)> {
        book.card(&kite(id))
            .unwrap()
            .measurements
            .into_iter()
            .map(|m| (m.name, m.value))
            .collect()
    }

    #[test]
    fn a_device_known_from_retained_messages_shows_its_last_values_at_once() {
        let mut book = DeviceBook::default();
        book.apply("devices/sim-1/status", b"online", true, 5_000);
        let card = book.card(&kite("sim-1")).unwrap();
        assert!(card.measurements.is_empty());
        assert_eq!(card.last_seen_ms, None, "not seen live yet");
        let mut answer = last(
            "sim-1",
            vec![
                value("battery", 87.0, 4_000),
                value("temperature", 21.456, 4_200),
            ],
        );
        answer.devices[0].measurements[1].unit = Some("°C".into());
        assert!(book.merge_last(&answer));
        assert_eq!(
            shown(&book, "sim-1"),
            [
                ("temperature".into(), "21.46".into()),
                ("battery".into(), "87".into())
            ]
        );
        let card = book.card(&kite("sim-1")).unwrap();
        assert_eq!(card.last_seen_ms, Some(4_200));
        assert_eq!(card.measurements[0].unit, "°C");
        assert_eq!(card.measurements[1].unit, "%", "the convention's unit");
        assert_eq!(book.past_ids(), ["sim-1"]);
    }

    #[test]
    fn newer_live_values_win_and_the_history_beats_retained_ones() {
        let mut book = DeviceBook::default();
        // A retained reading (old, its time unknown), then a live one.
        book.apply("devices/d/temperature", b"10", true, 1_000);
        book.apply("devices/d/battery", b"50", false, 2_000);
        book.merge_last(&last(
            "d",
            vec![
                value("temperature", 12.0, 1_500),
                value("battery", 49.0, 1_900),
            ],
        ));
        assert_eq!(
            shown(&book, "d"),
            [
                ("temperature".into(), "12".into()),
                ("battery".into(), "50".into())
            ]
        );
        // The history answered again (after a reconnect) with newer values.
        book.merge_last(&last("d", vec![value("battery", 48.0, 3_000)]));
        assert_eq!(shown(&book, "d")[1].1, "48");
        let card = book.card(&kite("d")).unwrap();
        assert_eq!(card.last_seen_ms, Some(3_000));
        book.apply("devices/d/battery", b"47", false, 4_000);
        assert_eq!(shown(&book, "d")[1].1, "47");
        assert_eq!(book.card(&kite("d")).unwrap().last_seen_ms, Some(4_000));
    }

    #[test]
    fn a_binary_sensor_reads_on_and_off_from_the_history() {
        let mut book = DeviceBook::default();
        let config = r#"{"name":"door","state_topic":"ha/f/door","payload_on":"open","payload_off":"closed","device_class":"door","device":{"identifiers":["f"],"name":"Front"}}"#;
        book.apply(
            "homeassistant/binary_sensor/f/door/config",
            config.as_bytes(),
            true,
            0,
        );
        book.apply("ha/f/door", b"closed", true, 0);
        book.merge_last(&last("f", vec![value("door", 1.0, 9)]));
        let card = book
            .card(&DeviceKey::new(Source::HomeAssistant, "f"))
            .unwrap();
        assert_eq!(card.measurements[0].value, "on");
        assert_eq!(card.last_seen_ms, Some(9));
    }

    #[test]
    fn series_answers_reach_the_device_of_that_id() {
        let mut book = DeviceBook::default();
        announce_porch(&mut book);
        book.apply("devices/k/status", b"online", true, 0);
        let series = |device: &str| PastSeries {
            device: device.into(),
            measurement: "temperature".into(),
            unit: Some("°C".into()),
            points: vec![(60_000, 20.0, 19.0, 21.0), (120_000, 21.0, 20.5, 21.5)],
        };
        let answer = SeriesAnswer {
            ok: true,
            resolution: Resolution::Minute,
            from: 0,
            to: 150_000,
            series: vec![series("x"), series("k")],
        };
        assert!(book.merge_series(&answer, false));
        let ha = DeviceKey::new(Source::HomeAssistant, "x");
        let points: Vec<(u64, f64)> = book.series(&ha, "temperature").unwrap().iter().collect();
        assert_eq!(points, [(60_000, 20.0), (120_000, 21.0)]);
        assert_eq!(book.series(&kite("k"), "temperature").unwrap().len(), 2);
        // The card's sparkline draws the past before any live reading.
        book.merge_last(&last("k", vec![value("temperature", 21.0, 120_000)]));
        let card = book.card(&kite("k")).unwrap();
        assert!(card.measurements[0].spark.contains('L'));
        // Live readings continue the same series.
        book.apply("devices/k/temperature", b"22", false, 180_000);
        let points: Vec<(u64, f64)> = book
            .series(&kite("k"), "temperature")
            .unwrap()
            .iter()
            .collect();
        assert_eq!(points, [(60_000, 20.0), (120_000, 21.0), (180_000, 22.0)]);
    }
}
