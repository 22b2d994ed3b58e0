//! `kite-devices`: run a fleet of simulated devices against a broker.

use std::time::Duration;

use clap::Parser;
use kite_devices::device::{self, DeviceConfig};
use mqtt::Protocol;

/// Simulated devices publishing temperature, battery and signal strength
/// under `devices/<id>/...`, each over its own MQTT connection.
#[derive(Parser, Debug)]
#[command(name = "kite-devices", version, about)]
struct Args {
    /// The broker's MQTT-over-TCP address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:1883")]
    broker: String,
    /// Number of devices.
    #[arg(long, default_value_t = 5)]
    count: u32,
    /// Seconds between two telemetry messages of one device.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    interval: Duration,
    /// Seed of the simulation: the same seed gives the same readings.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Device ids are `<prefix>-<n>`.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// MQTT protocol version: 3.1.1 or 5.
    #[arg(long, value_name = "VERSION", default_value = "3.1.1", value_parser = parse_protocol)]
    protocol: Protocol,
}

fn parse_interval(value: &str) -> Result<Duration, String> {
    let seconds: f64 = value.parse().map_err(|e| format!("{e}"))?;
    if seconds.is_finite() && seconds > 0.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err("the interval must be a positive number of seconds".into())
    }
}

fn parse_protocol(value: &str) -> Result<Protocol, String> {
    match value {
        "3.1" => Ok(Protocol::V31),
        "3.1.1" | "4" => Ok(Protocol::V311),
        "5" | "5.0" => Ok(Protocol::V5),
        other => Err(format!("unknown protocol {other:?}: use 3.1, 3.1.1 or 5")),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for n in 1..=args.count {
        let config = DeviceConfig {
            broker: args.broker.clone(),
            id: format!("{}-{n}", args.prefix),
            interval: args.interval,
            seed: args.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(n)),
            protocol: args.protocol,
        };
        tasks.push(tokio::spawn(device::run(config, stop_rx.clone())));
    }
    tracing::info!(count = args.count, broker = %args.broker, "devices running");
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
}
