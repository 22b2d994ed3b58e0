//! One simulated device's connection loop: connect with an `offline` will,
//! announce itself, then publish a step every interval; drop the link when
//! the model says so (the broker then publishes the will) and come back;
//! reconnect with backoff when the broker goes away. The MQTT protocol is
//! the shared sans-I/O `ClientSession`; this loop only moves bytes between
//! it and a [`Pipe`].

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::BytesMut;
use mqtt::{
    client::{ClientError, ClientEvent, ClientOptions, ClientSession},
    LastWill, Properties, Protocol,
};
use tokio::{
    sync::watch,
    time::{interval, interval_at, sleep, Instant, Interval, MissedTickBehavior},
};

use crate::{
    message::Message,
    model::DeviceModel,
    sim::Rng,
    spec::DeviceSpec,
    transport::{Endpoint, Pipe, TransportError},
};

/// How long a CONNECT may wait for its CONNACK.
const CONNACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How one device connects and behaves.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub endpoint: Endpoint,
    pub spec: DeviceSpec,
    pub protocol: Protocol,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Seconds after midnight of the first reading (the daily temperature cycle).
    pub start_of_day: f64,
    /// Wait this long before the first connect, so a large fleet does not
    /// hit the broker in one burst.
    pub start_delay: Duration,
}

/// Devices connected right now, shared by a fleet for its progress report.
#[derive(Debug, Default)]
pub struct Counters {
    pub connected: AtomicUsize,
}

/// Why a device's connection ended.
#[derive(thiserror::Error, Debug)]
pub enum DeviceError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Mqtt(#[from] ClientError),
    #[error("the broker closed the connection")]
    Closed,
    #[error("no CONNACK within {0:?}")]
    NoConnAck(Duration),
}

/// How a session ended without error.
enum Ended {
    Stopped,
    /// The model dropped the link; stay away this long.
    Dropped(Duration),
}

/// Run a device until `stop` turns true.
pub async fn run(config: DeviceConfig, counters: Arc<Counters>, mut stop: watch::Receiver<bool>) {
    let id = config.spec.id.clone();
    tokio::select! {
        _ = sleep(config.start_delay) => {}
        _ = stopped(&mut stop) => return,
    }
    let mut model = DeviceModel::new(config.spec.clone(), config.start_of_day);
    // Timing jitter from a stream of its own, so it never shifts readings.
    let mut jitter = Rng::new(config.spec.seed ^ 0x71_77E5);
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = Instant::now();
        let wait = match session(&config, &mut model, &counters, &mut stop, &mut jitter).await {
            Ok(Ended::Stopped) => return,
            Ok(Ended::Dropped(away)) => {
                tracing::info!(device = %id, "link lost on purpose; back in {away:.1?}");
                backoff = Duration::from_millis(500);
                away
            }
            Err(err) => {
                if started.elapsed() > Duration::from_secs(10) {
                    backoff = Duration::from_millis(500);
                }
                let wait = backoff.mul_f64(jitter.range(0.8, 1.2));
                tracing::warn!(device = %id, "{err}; reconnecting in {wait:.1?}");
                backoff = (backoff * 2).min(Duration::from_secs(30));
                wait
            }
        };
        tokio::select! {
            _ = sleep(wait) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone). The watch
/// guard is dropped here, not held across the caller's awaits, which keeps
/// device futures `Send`.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Counts a connection in `Counters::connected` for as long as it lives.
struct Connected<'a>(&'a Counters);

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn session(
    config: &DeviceConfig,
    model: &mut DeviceModel,
    counters: &Counters,
    stop: &mut watch::Receiver<bool>,
    jitter: &mut Rng,
) -> Result<Ended, DeviceError> {
    let mut pipe = Pipe::connect(&config.endpoint).await?;
    let epoch = Instant::now();
    let now_ms = || epoch.elapsed().as_millis() as u64;
    let mut client = ClientSession::new(options(config, model));
    client.connect(now_ms())?;
    let mut input = BytesMut::with_capacity(512);
    // Created at CONNACK; until then there is nothing to publish.
    let mut ticker: Option<Interval> = None;
    let mut keepalive = interval(Duration::from_secs(1));
    let connack_deadline = sleep(CONNACK_TIMEOUT);
    tokio::pin!(connack_deadline);
    let mut counted = None;
    loop {
        if let Some(bytes) = client.take_outgoing() {
            pipe.send(bytes).await?;
        }
        tokio::select! {
            read = pipe.recv(&mut input) => {
                if read? == 0 {
                    return Err(DeviceError::Closed);
                }
                for event in client.receive(&input.split(), now_ms())? {
                    match event {
                        ClientEvent::Connected { .. } => {
                            tracing::debug!(device = %model.spec().id, "connected");
                            counters.connected.fetch_add(1, Ordering::Relaxed);
                            counted = Some(Connected(counters));
                            publish(&mut client, &model.announce(), now_ms())?;
                            // A random phase spreads a fleet's publishes
                            // over the interval instead of one burst per tick.
                            let period = model.spec().interval;
                            let phase = period.mul_f64(jitter.unit());
                            let mut t = interval_at(Instant::now() + phase, period);
                            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
                            ticker = Some(t);
                        }
                        ClientEvent::Disconnected { reason } => {
                            tracing::warn!(device = %model.spec().id, ?reason, "disconnected by the broker");
                            return Err(DeviceError::Closed);
                        }
                        _ => {}
                    }
                }
            }
            _ = async { ticker.as_mut().expect("guarded").tick().await }, if ticker.is_some() => {
                let step = model.step();
                publish(&mut client, &step.messages, now_ms())?;
                if let Some(away) = step.disconnect {
                    if let Some(bytes) = client.take_outgoing() {
                        pipe.send(bytes).await?;
                    }
                    // Dropped without DISCONNECT, like a device whose radio
                    // died: the broker publishes its will.
                    drop(pipe);
                    drop(counted);
                    return Ok(Ended::Dropped(away));
                }
            }
            _ = keepalive.tick() => client.tick(now_ms())?,
            _ = &mut connack_deadline, if ticker.is_none() => {
                return Err(DeviceError::NoConnAck(CONNACK_TIMEOUT));
            }
            _ = stopped(stop) => {
                if client.is_connected() {
                    publish(&mut client, &model.goodbye(), now_ms())?;
                    client.disconnect(now_ms())?;
                    if let Some(bytes) = client.take_outgoing() {
                        let _ = pipe.send(bytes).await;
                    }
                }
                pipe.close().await;
                return Ok(Ended::Stopped);
            }
        }
    }
}

fn options(config: &DeviceConfig, model: &DeviceModel) -> ClientOptions {
    let mut options = ClientOptions::new(model.spec().id.clone());
    options.protocol = config.protocol;
    options.keep_alive = 30;
    options.username = config.username.clone();
    options.password = config.password.clone().map(String::into_bytes);
    let will = model.will();
    options.will = Some(LastWill {
        topic: will.topic.as_str().into(),
        payload: will.payload.into(),
        qos: will.qos,
        retain: will.retain,
        properties: Properties::default(),
    });
    options
}

fn publish(
    client: &mut ClientSession,
    messages: &[Message],
    now_ms: u64,
) -> Result<(), ClientError> {
    for m in messages {
        client.publish(&m.topic, m.payload.clone(), m.qos, m.retain, now_ms)?;
    }
    Ok(())
}
