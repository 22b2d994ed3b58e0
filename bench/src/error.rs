//! Every way a benchmark step can fail.

use std::{path::PathBuf, time::Duration};

use mqtt::client::ClientError;

#[derive(thiserror::Error, Debug)]
pub enum BenchError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("WebSocket handshake with {url} failed: {source}")]
    WebSocket {
        url: String,
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("MQTT: {0}")]
    Client(#[from] ClientError),
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("the broker closed the connection ({0})")]
    Closed(String),
    #[error("the broker refused: {0}")]
    Refused(String),
    #[error("this broker has no WebSocket listener")]
    NoWebSocket,
    #[error("{broker}: {reason}")]
    Broker { broker: String, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a benchmark task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl BenchError {
    pub fn timeout(what: impl Into<String>, after: Duration) -> BenchError {
        BenchError::Timeout {
            what: what.into(),
            after,
        }
    }
}
