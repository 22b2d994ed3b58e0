//! `kite-server`: parse the flags (and `--config FILE`), start logging, run
//! the broker until Ctrl-C. `kite-server passwd FILE USER` manages a password file.

use kite_server::{
    auth::{self, Command},
    config_file::{self, ConfigError},
    Broker,
};

/// glibc, but tokio's 128-byte-aligned task cells are reused exactly (see `aligned`).
#[global_allocator]
static ALLOCATOR: kite_server::aligned::Allocator = kite_server::aligned::Allocator;

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
        return match auth::passwd(args) {
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    kite_server::aligned::tune_system_allocator();
    if let Some(files) = kite_server::limits::raise_fd_limit() {
        tracing::debug!(files, "open-file limit");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    match Broker::new(config).run(shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kite-server: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
