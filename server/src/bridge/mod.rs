//! Bridges to other brokers: each one an MQTT client inside this broker
//! that carries topics to and from a remote broker (Mosquitto's
//! `connection` sections, as `[[bridge]]` tables or created live on
//! `$CONTROL/kite/v1`).
//!
//! - `topics`: which topics travel, renamed by prefix (Mosquitto's `topic` lines).
//! - `remote`: the TCP or TLS connection to the remote.
//! - `pipe`: one side's bytes in and out, each way in a task of its own.
//! - `sessions`: the settings of its two client sessions, its `$SYS` state.
//! - `link`: one bridge at work, between its session here and the remote's.
//!
//! [`Bridges`] starts, changes, pauses and stops them; each runs in a task
//! of its own, and its figures are in `$SYS/broker/connection/<name>/...`
//! and `/metrics`.

mod link;
mod pipe;
mod remote;
mod sessions;
mod topics;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio::{
    sync::{watch, Mutex},
    task::JoinHandle,
};

use crate::{
    broker::Shared,
    config::bridge::{BridgeConfig, BridgeConfigError},
    metrics::bridges::BridgeFigures,
};

/// How long a stopping bridge may take to say goodbye to its remote.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a bridge's settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// A `[[bridge]]` table of the configuration file: changed by editing it.
    File,
    /// Created on `$CONTROL/kite/v1`, kept in the admin store.
    Live,
}

/// A bridge as the API lists it: settings (the password left out), where
/// they come from, and its figures now.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct BridgeStatus {
    pub config: BridgeConfig,
    pub source: Source,
    pub connected: bool,
    pub sent: u64,
    pub received: u64,
    pub queued: u64,
    pub dropped: u64,
    pub reconnects: u64,
}

struct Entry {
    config: BridgeConfig,
    source: Source,
    running: Option<Running>,
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Every bridge of this broker.
pub(crate) struct Bridges {
    shared: Arc<Shared>,
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl Bridges {
    pub(crate) fn new(shared: Arc<Shared>) -> Bridges {
        Bridges {
            shared,
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// Add a bridge and start it unless it is paused (`enabled = false`).
    pub(crate) async fn create(
        &self,
        config: BridgeConfig,
        source: Source,
    ) -> Result<(), BridgeConfigError> {
        config.validate()?;
        let mut entries = self.entries.lock().await;
        if entries.contains_key(&config.name) {
            return Err(error(
                "name",
                format!("a bridge named {:?} exists", config.name),
            ));
        }
        let running = self.launch(&config)?;
        entries.insert(
            config.name.clone(),
            Entry {
                config,
                source,
                running,
            },
        );
        Ok(())
    }

    /// Replace a live bridge's settings: it stops and starts again with
    /// them. What its session here had queued stays queued.
    pub(crate) async fn modify(&self, config: BridgeConfig) -> Result<(), BridgeConfigError> {
        config.validate()?;
        let mut entries = self.entries.lock().await;
        let entry = live_entry(&mut entries, &config.name)?;
        // Check the new settings (certificates) before stopping the old.
        remote::Dialer::new(&config).map_err(|(field, message)| error(&field, message))?;
        stop(entry.running.take()).await;
        let running = self.launch(&config)?;
        entry.config = config;
        entry.running = running;
        Ok(())
    }

    /// Pause (`false`) or resume (`true`) a bridge. A paused bridge keeps
    /// its session here, so what goes out waits in the store meanwhile.
    pub(crate) async fn set_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<(), BridgeConfigError> {
        let mut entries = self.entries.lock().await;
        let entry = entries
            .get_mut(name)
            .ok_or_else(|| error("name", format!("no bridge named {name:?}")))?;
        entry.config.enabled = enabled;
        if enabled && entry.running.is_none() {
            entry.running = self.launch(&entry.config)?;
        } else if !enabled {
            stop(entry.running.take()).await;
        }
        Ok(())
    }

    /// Stop a live bridge and forget it: its session here (and what it
    /// queued) goes, and its `$SYS` state is cleared.
    pub(crate) async fn delete(&self, name: &str) -> Result<BridgeConfig, BridgeConfigError> {
        let mut entries = self.entries.lock().await;
        live_entry(&mut entries, name)?;
        let entry = entries.remove(name).expect("just found");
        stop(entry.running).await;
        sessions::drop_local_session(&self.shared, name).await;
        sessions::publish_state(&self.shared, name, None);
        self.shared.bridges.remove(name);
        Ok(entry.config)
    }

    /// One bridge's settings, if it exists.
    pub(crate) async fn get(&self, name: &str) -> Option<(BridgeConfig, Source)> {
        let entries = self.entries.lock().await;
        entries.get(name).map(|e| (e.config.clone(), e.source))
    }

    /// Every bridge, by name, with its figures; passwords left out.
    pub(crate) async fn list(&self) -> Vec<BridgeStatus> {
        let figures: BTreeMap<String, BridgeFigures> = self
            .shared
            .bridges
            .figures()
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect();
        let entries = self.entries.lock().await;
        entries
            .values()
            .map(|entry| {
                let f = figures.get(&entry.config.name).cloned().unwrap_or_default();
                let mut config = entry.config.clone();
                config.password = config.password.map(|_| "********".into());
                BridgeStatus {
                    config,
                    source: entry.source,
                    connected: f.up,
                    sent: f.sent,
                    received: f.received,
                    queued: f.queued,
                    dropped: f.dropped,
                    reconnects: f.reconnects,
                }
            })
            .collect()
    }

    /// Stop every bridge (shutdown): each says goodbye to its remote.
    pub(crate) async fn stop_all(&self) {
        let mut entries = self.entries.lock().await;
        for entry in entries.values_mut() {
            stop(entry.running.take()).await;
        }
    }

    fn launch(&self, config: &BridgeConfig) -> Result<Option<Running>, BridgeConfigError> {
        let dialer =
            remote::Dialer::new(config).map_err(|(field, message)| error(&field, message))?;
        if !config.enabled {
            return Ok(None);
        }
        let counters = self.shared.bridges.counters(&config.name);
        let link = link::Link::new(config.clone(), self.shared.clone(), counters, dialer);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(link.run(stopped));
        Ok(Some(Running { stop, task }))
    }
}

fn error(field: &str, message: String) -> BridgeConfigError {
    BridgeConfigError {
        field: field.to_string(),
        message,
    }
}

/// The entry of a bridge the API may change: one created live.
fn live_entry<'a>(
    entries: &'a mut BTreeMap<String, Entry>,
    name: &str,
) -> Result<&'a mut Entry, BridgeConfigError> {
    let entry = entries
        .get_mut(name)
        .ok_or_else(|| error("name", format!("no bridge named {name:?}")))?;
    if entry.source == Source::File {
        return Err(error(
            "name",
            format!("bridge {name:?} is defined in the configuration file: change it there"),
        ));
    }
    Ok(entry)
}

async fn stop(running: Option<Running>) {
    let Some(mut running) = running else {
        return;
    };
    let _ = running.stop.send(true);
    if tokio::time::timeout(STOP_TIMEOUT, &mut running.task)
        .await
        .is_err()
    {
        running.task.abort();
    }
}
