//! One simulated device: its own TCP connection, an `offline` last will, a
//! retained `online` status, then telemetry every interval. The MQTT protocol
//! is the shared sans-I/O `ClientSession`; this loop only moves bytes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use mqtt::{
    client::{ClientError, ClientEvent, ClientOptions, ClientSession},
    LastWill, Properties, Protocol, QoS,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::watch,
    time::{interval, Instant, MissedTickBehavior},
};

use crate::sim::Simulation;

/// How one device behaves.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// `host:port` of the broker's TCP listener.
    pub broker: String,
    pub id: String,
    pub interval: Duration,
    pub seed: u64,
    pub protocol: Protocol,
}

/// Why a device's connection ended.
#[derive(thiserror::Error, Debug)]
pub enum DeviceError {
    #[error("cannot reach the broker at {broker}: {source}")]
    Connect {
        broker: String,
        source: std::io::Error,
    },
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Mqtt(#[from] ClientError),
    #[error("the broker closed the connection")]
    Closed,
}

/// The status topic of a device.
pub fn status_topic(id: &str) -> String {
    format!("devices/{id}/status")
}

/// Run a device until `stop` turns true, reconnecting with backoff when the
/// connection drops.
pub async fn run(config: DeviceConfig, mut stop: watch::Receiver<bool>) {
    let mut sim = Simulation::new(config.seed);
    let mut backoff = Duration::from_millis(500);
    loop {
        let started = Instant::now();
        tokio::select! {
            result = session(&config, &mut sim) => {
                if let Err(err) = result {
                    tracing::warn!(device = %config.id, "{err}; reconnecting in {backoff:?}");
                }
            }
            _ = stop.wait_for(|s| *s) => return,
        }
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(500);
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Milliseconds since this process started, for the session's timers.
fn now_ms(epoch: Instant) -> u64 {
    epoch.elapsed().as_millis() as u64
}

async fn session(config: &DeviceConfig, sim: &mut Simulation) -> Result<(), DeviceError> {
    let mut stream =
        TcpStream::connect(&config.broker)
            .await
            .map_err(|source| DeviceError::Connect {
                broker: config.broker.clone(),
                source,
            })?;
    stream.set_nodelay(true)?;
    let epoch = Instant::now();
    let status = status_topic(&config.id);
    let mut options = ClientOptions::new(config.id.clone());
    options.protocol = config.protocol;
    options.keep_alive = 30;
    options.will = Some(LastWill {
        topic: status.as_str().into(),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Properties::default(),
    });
    let mut client = ClientSession::new(options);
    client.connect(now_ms(epoch))?;
    let mut input = BytesMut::with_capacity(1024);
    let mut ticker = interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut keepalive = interval(Duration::from_secs(1));
    loop {
        if let Some(bytes) = client.take_outgoing() {
            stream.write_all(&bytes).await?;
        }
        tokio::select! {
            read = stream.read_buf(&mut input) => {
                if read? == 0 {
                    return Err(DeviceError::Closed);
                }
                for event in client.receive(&input.split(), now_ms(epoch))? {
                    match event {
                        ClientEvent::Connected { .. } => {
                            tracing::debug!(device = %config.id, "connected");
                            client.publish(&status, "online", QoS::AtLeastOnce, true, now_ms(epoch))?;
                        }
                        ClientEvent::Disconnected { reason } => {
                            tracing::warn!(device = %config.id, ?reason, "disconnected by the broker");
                            return Err(DeviceError::Closed);
                        }
                        _ => {}
                    }
                }
            }
            _ = ticker.tick(), if client.is_connected() => {
                let reading = sim.next(seconds_of_day());
                let now = now_ms(epoch);
                let base = format!("devices/{}", config.id);
                client.publish(&format!("{base}/telemetry"), reading.to_json(), QoS::AtMostOnce, false, now)?;
                for (name, value) in reading.measurements() {
                    client.publish(&format!("{base}/{name}"), value, QoS::AtMostOnce, false, now)?;
                }
            }
            _ = keepalive.tick() => client.tick(now_ms(epoch))?,
        }
    }
}

fn seconds_of_day() -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() % 86_400) as f64
}
