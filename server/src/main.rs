//! `kite-server`: parse the flags (and `--config FILE`), start logging, run
//! the broker until SIGINT (Ctrl-C) or SIGTERM (`docker stop`, systemd),
//! which both shut it down cleanly; a second signal stops it at once.
//! `kite-server passwd FILE USER` manages a password file;
//! `kite-server import-mosquitto mosquitto.conf` prints its Kite TOML.

use kite_server::{
    config::{
        file::{self as config_file, ConfigError},
        Command,
    },
    ops::{fd, import_mosquitto, passwd},
    Broker,
};

/// glibc, but tokio's 128-byte-aligned task cells are reused exactly (see `aligned`).
#[global_allocator]
static ALLOCATOR: kite_server::util::aligned::Allocator = kite_server::util::aligned::Allocator;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = match config_file::parse(std::env::args_os()) {
        Ok(config) => config,
        Err(ConfigError::Flags(err)) => err.exit(),
        Err(err @ ConfigError::File(_)) => {
            eprintln!("kite-server: {err}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(Command::Passwd(args)) = &config.command {
        return match passwd::passwd(args) {
            Ok(done) => {
                eprintln!("{done}");
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("kite-server passwd: {err}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::ImportMosquitto(args)) = &config.command {
        return match import_mosquitto::run(args) {
            Ok(toml) => {
                print!("{toml}");
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("kite-server import-mosquitto: {err}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    kite_server::util::aligned::tune_system_allocator();
    if let Some(files) = fd::raise_limit() {
        tracing::debug!(files, "open-file limit");
    }
    let signals = match Signals::new() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("kite-server: cannot watch for signals: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shutdown = signals.shutdown();
    match Broker::new(config).run(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kite-server: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// SIGINT and SIGTERM, watched from start-up on, so that one arriving
/// before the broker waits for it is not the default (a crash).
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// Completes at the first signal: the broker then shuts down cleanly
    /// (bounded, see `Broker::run`). A second signal exits at once.
    async fn shutdown(mut self) {
        let signal = self.next().await;
        tracing::info!(signal, "shutting down (a second signal stops at once)");
        tokio::spawn(async move {
            let signal = self.next().await;
            eprintln!("kite-server: {signal} during shutdown: stopping at once");
            std::process::exit(1);
        });
    }
}
