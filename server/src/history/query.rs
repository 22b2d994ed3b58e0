//! Answering a [`Query`] from the file and the worker's state, showing the
//! asker only what its ACL lets it receive: a series is visible when the
//! topic its readings came on is, a device event when
//! `devices/<id>/events` is, an alarm event when `$kite/alarms/events` is.

use std::collections::BTreeMap;

use kite_convention::{
    alarms::EVENTS_TOPIC,
    history::{
        selected, Answer, EventsAnswer, LastAnswer, LastDevice, LastValue, Query, Resolution,
        Series, SeriesAnswer, StoredEvent, MAX_EVENTS, MAX_POINTS, SOURCE_ALARM,
    },
    topics::events_topic,
};

use super::{tiers::auto_resolution, Reader, Worker};

/// The most points one answer holds over all its series (about 10 MB of
/// JSON): a fleet-wide query must narrow its devices or its range.
pub(super) const MAX_ANSWER_POINTS: usize = 250_000;

/// Events per page when the query names no limit.
const DEFAULT_EVENTS: usize = 100;

pub(super) fn answer(worker: &Worker, query: Query, reader: &Reader, now: u64) -> Answer {
    let result = match query {
        Query::Series {
            devices,
            measurements,
            from,
            to,
            resolution,
        } => series(
            worker,
            &devices,
            &measurements,
            from.map_or(Ok(now.saturating_sub(3_600_000)), |t| t.resolve(now)),
            to.map_or(Ok(now), |t| t.resolve(now)),
            resolution,
            reader,
            now,
        ),
        Query::Last { devices } => Ok(last(worker, &devices, reader)),
        Query::Events {
            devices,
            severity,
            text,
            before,
            limit,
        } => {
            let limit = limit.unwrap_or(DEFAULT_EVENTS).clamp(1, MAX_EVENTS);
            let keep = |event: &StoredEvent| {
                selected(&devices, &event.device)
                    && event.passes(severity, text.as_deref())
                    && reader(&event_topic(event))
            };
            worker
                .db
                .events(before, limit, keep)
                .map(|(events, next_before)| {
                    Answer::Events(EventsAnswer {
                        ok: true,
                        events,
                        next_before,
                    })
                })
                .map_err(|err| format!("the history could not be read: {err}"))
        }
    };
    result.unwrap_or_else(Answer::error)
}

#[allow(clippy::too_many_arguments)]
fn series(
    worker: &Worker,
    devices: &[String],
    measurements: &[String],
    from: Result<u64, String>,
    to: Result<u64, String>,
    resolution: Resolution,
    reader: &Reader,
    now: u64,
) -> Result<Answer, String> {
    let (from, to) = (from?, to?);
    if from > to {
        return Err(format!("\"from\" ({from}) is after \"to\" ({to})"));
    }
    let resolution = match resolution {
        Resolution::Auto => auto_resolution(
            to - from,
            now.saturating_sub(from),
            worker.kept.raw,
            worker.kept.minute,
        ),
        chosen => chosen,
    };
    let mut chosen: Vec<(&u32, &super::SeriesState)> = worker
        .series
        .iter()
        .filter(|(_, s)| {
            selected(devices, &s.meta.device)
                && selected(measurements, &s.meta.measurement)
                && reader(&s.meta.topic)
        })
        .collect();
    chosen.sort_by(|a, b| {
        (&a.1.meta.device, &a.1.meta.measurement).cmp(&(&b.1.meta.device, &b.1.meta.measurement))
    });
    let mut out = Vec::with_capacity(chosen.len());
    let mut total = 0;
    for (id, state) in chosen {
        let points = worker
            .db
            .points(*id, resolution, from, to, MAX_POINTS)
            .map_err(|err| format!("the history could not be read: {err}"))?;
        total += points.len();
        if total > MAX_ANSWER_POINTS {
            return Err(format!(
                "more than {MAX_ANSWER_POINTS} points: name fewer devices or measurements, or ask for a coarser resolution"
            ));
        }
        out.push(Series {
            device: state.meta.device.clone(),
            measurement: state.meta.measurement.clone(),
            unit: state.meta.unit.clone(),
            points,
        });
    }
    Ok(Answer::Series(SeriesAnswer {
        ok: true,
        resolution,
        from,
        to,
        series: out,
    }))
}

fn last(worker: &Worker, devices: &[String], reader: &Reader) -> Answer {
    let mut by_device: BTreeMap<&str, LastDevice> = BTreeMap::new();
    for state in worker.series.values() {
        let meta = &state.meta;
        let Some((ts, value)) = state.last else {
            continue;
        };
        if !selected(devices, &meta.device) || !reader(&meta.topic) {
            continue;
        }
        let device = by_device
            .entry(meta.device.as_str())
            .or_insert_with(|| LastDevice {
                device: meta.device.clone(),
                last_seen: 0,
                measurements: Vec::new(),
            });
        device.last_seen = device.last_seen.max(ts);
        device.measurements.push(LastValue {
            measurement: meta.measurement.clone(),
            value,
            ts,
            unit: meta.unit.clone(),
        });
    }
    let mut devices: Vec<LastDevice> = by_device.into_values().collect();
    for device in &mut devices {
        device
            .measurements
            .sort_by(|a, b| a.measurement.cmp(&b.measurement));
    }
    Answer::Last(LastAnswer { ok: true, devices })
}

/// The topic an event came on, for the asker's ACL.
fn event_topic(event: &StoredEvent) -> String {
    if event.source == SOURCE_ALARM {
        EVENTS_TOPIC.to_owned()
    } else {
        events_topic(&event.device)
    }
}
