//! `kite-devices`: run a fleet of simulated devices against a broker.

use std::{path::PathBuf, time::Duration};

use clap::Parser;
use kite_devices::{
    fleet::{self, Connection, Generate},
    scenario::{self, Defaults},
    spec::{Convention, DEFAULT_DISCONNECT_RATE},
    transport::Endpoint,
};
use mqtt::Protocol;

/// Simulated devices (climate, door, motion and button sensors), each over
/// its own MQTT connection, publishing under `devices/<id>/...` or
/// announcing themselves through Home Assistant discovery.
#[derive(Parser, Debug)]
#[command(name = "kite-devices", version, about)]
struct Args {
    /// The broker: HOST:PORT of its MQTT-over-TCP listener, or a ws:// URL.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:1883")]
    broker: String,
    /// Connect over WebSocket (subprotocol mqtt); a HOST:PORT broker then
    /// means ws://HOST:PORT/mqtt.
    #[arg(long)]
    ws: bool,
    /// Number of devices.
    #[arg(long, default_value_t = 5, conflicts_with = "scenario")]
    count: u32,
    /// Seconds between two readings of one device.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    interval: Duration,
    /// Seed of the simulation: the same seed (and --start-time) gives the
    /// same devices and the same readings.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Device ids are `<prefix>-<n>`.
    #[arg(long, default_value = "sim", conflicts_with = "scenario")]
    prefix: String,
    /// MQTT protocol version: 3.1, 3.1.1 or 5.
    #[arg(long, value_name = "VERSION", default_value = "3.1.1", value_parser = parse_protocol)]
    protocol: Protocol,
    /// Username sent in CONNECT.
    #[arg(long)]
    username: Option<String>,
    /// Password sent in CONNECT.
    #[arg(long)]
    password: Option<String>,
    /// Fraction of the devices (0 to 1) that announce themselves through
    /// Home Assistant discovery instead of the Kite convention, spread
    /// evenly: 0.25 makes every fourth device one; the default 0.1 makes
    /// every tenth, so the first nine are always Kite devices.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1, value_parser = parse_share, conflicts_with = "scenario")]
    ha_share: f64,
    /// Abrupt disconnects per device and hour (the broker then publishes
    /// the device's offline will); none in a device's first 120 readings.
    #[arg(long, value_name = "PER_HOUR", default_value_t = DEFAULT_DISCONNECT_RATE, value_parser = parse_rate)]
    disconnect_rate: f64,
    /// Simulated time of day (UTC) of the first reading, HH:MM or HH:MM:SS,
    /// for the daily temperature cycle; default: now.
    #[arg(long, value_name = "HH:MM", value_parser = parse_time_of_day)]
    start_time: Option<f64>,
    /// A TOML file that defines the fleet by hand (see devices/scenarios/home.toml).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
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

fn parse_share(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("the share is a fraction between 0 and 1".into()),
    }
}

fn parse_rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err("the rate is zero or more disconnects per hour".into()),
    }
}

fn parse_time_of_day(value: &str) -> Result<f64, String> {
    let parts: Vec<&str> = value.split(':').collect();
    let numbers: Result<Vec<u32>, _> = parts.iter().map(|p| p.parse::<u32>()).collect();
    match numbers.as_deref() {
        Ok([h, m]) if *h < 24 && *m < 60 => Ok(f64::from(h * 3600 + m * 60)),
        Ok([h, m, s]) if *h < 24 && *m < 60 && *s < 60 => Ok(f64::from(h * 3600 + m * 60 + s)),
        _ => Err(format!(
            "{value:?} is not a time of day: use HH:MM or HH:MM:SS"
        )),
    }
}

fn now_of_day() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() % 86_400) as f64
}

async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
    let endpoint = match Endpoint::parse(&args.broker, args.ws) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            eprintln!("kite-devices: {e}");
            std::process::exit(2);
        }
    };
    let specs = match &args.scenario {
        Some(path) => {
            let defaults = Defaults {
                seed: args.seed,
                interval: args.interval,
                disconnect_rate: args.disconnect_rate,
            };
            match scenario::load(path, &defaults) {
                Ok(specs) => specs,
                Err(e) => {
                    eprintln!("kite-devices: scenario {}: {e}", path.display());
                    std::process::exit(2);
                }
            }
        }
        None => fleet::generate(&Generate {
            count: args.count,
            prefix: args.prefix.clone(),
            seed: args.seed,
            interval: args.interval,
            ha_share: args.ha_share,
            disconnect_rate: args.disconnect_rate,
        }),
    };
    let ha = specs
        .iter()
        .filter(|s| s.convention == Convention::HomeAssistant)
        .count();
    tracing::info!(
        devices = specs.len(),
        kite = specs.len() - ha,
        home_assistant = ha,
        broker = %endpoint,
        "devices starting"
    );
    let connection = Connection {
        endpoint,
        protocol: args.protocol,
        username: args.username,
        password: args.password,
        start_of_day: args.start_time.unwrap_or_else(now_of_day),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let fleet = tokio::spawn(fleet::run(specs, connection, stop_rx));
    stopped().await;
    let _ = stop_tx.send(true);
    let _ = fleet.await;
}
