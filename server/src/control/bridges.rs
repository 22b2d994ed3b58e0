//! The bridge commands: create, modify, pause, resume, delete, list and
//! get bridges, live. A bridge created here is kept in `admin.redb` and
//! started again with the broker; one from the configuration file may be
//! paused and listed, and is changed by editing the file.
//!
//! A bridge's settings are the `[[bridge]]` table's keys as JSON:
//! `{"command": "createBridge", "bridge": {"name": "cloud", "addresses":
//! ["host:1883"], "topic": [{"pattern": "sensors/#", "direction": "out",
//! "qos": 1}]}}`. A failure names the field, e.g. `bridge.topic[0].pattern`.

use serde_json::{json, Value};

use super::{Args, Batch, Failure, Outcome};
use crate::{
    bridge::{Bridges, Source},
    config::bridge::{BridgeConfig, BridgeConfigError},
};

/// `createBridge {bridge}`: add a bridge and start it (unless `enabled` is false).
pub(super) fn create(batch: &mut Batch, args: &Args) -> Outcome {
    let config = settings(args)?;
    let bridges = bridges(batch)?;
    batch
        .shared
        .runtime
        .block_on(bridges.create(config.clone(), Source::Live))
        .map_err(named)?;
    if let Err(err) = batch.store.put_bridge(&config) {
        let _ = batch.shared.runtime.block_on(bridges.delete(&config.name));
        return Err(Failure::new(format!("not stored, nothing changed: {err}")));
    }
    Ok(None)
}

/// `modifyBridge {bridge}`: new settings for a bridge created here; it
/// reconnects with them. A password left out keeps the one it has.
pub(super) fn modify(batch: &mut Batch, args: &Args) -> Outcome {
    let mut config = settings(args)?;
    let bridges = bridges(batch)?;
    let runtime = &batch.shared.runtime;
    if config.password.is_none() {
        if let Some((old, _)) = runtime.block_on(bridges.get(&config.name)) {
            config.password = old.password;
        }
    }
    runtime
        .block_on(bridges.modify(config.clone()))
        .map_err(named)?;
    batch
        .store
        .put_bridge(&config)
        .map_err(|err| Failure::new(format!("in force, but not stored: {err}")))?;
    Ok(None)
}

/// `deleteBridge {name}`: stop a bridge created here and forget it, with
/// what its session here had queued.
pub(super) fn delete(batch: &mut Batch, args: &Args) -> Outcome {
    let name = args.str("name")?;
    let bridges = bridges(batch)?;
    batch
        .shared
        .runtime
        .block_on(bridges.delete(name))
        .map_err(|err| Failure::field("name", err.message))?;
    batch
        .store
        .delete_bridge(name)
        .map_err(|err| Failure::new(format!("deleted, but still stored: {err}")))?;
    Ok(None)
}

/// `enableBridge {name}`: resume a paused bridge.
pub(super) fn enable(batch: &mut Batch, args: &Args) -> Outcome {
    set_enabled(batch, args, true)
}

/// `disableBridge {name}`: pause a bridge: it leaves the remote, and what
/// goes out waits in its session here.
pub(super) fn disable(batch: &mut Batch, args: &Args) -> Outcome {
    set_enabled(batch, args, false)
}

fn set_enabled(batch: &mut Batch, args: &Args, enabled: bool) -> Outcome {
    let name = args.str("name")?;
    let bridges = bridges(batch)?;
    let runtime = &batch.shared.runtime;
    runtime
        .block_on(bridges.set_enabled(name, enabled))
        .map_err(|err| Failure::field("name", err.message))?;
    // A live bridge stays paused across a restart; a file's follows its file.
    if let Some((config, Source::Live)) = runtime.block_on(bridges.get(name)) {
        batch
            .store
            .put_bridge(&config)
            .map_err(|err| Failure::new(format!("in force, but not stored: {err}")))?;
    }
    Ok(None)
}

/// `listBridges`: every bridge, its settings (no password), where they
/// come from, whether it is connected, and its counts.
pub(super) fn list(batch: &mut Batch, _args: &Args) -> Outcome {
    let bridges = bridges(batch)?;
    let list = batch.shared.runtime.block_on(bridges.list());
    Ok(Some(json!({ "totalCount": list.len(), "bridges": list })))
}

/// `getBridge {name}`: one bridge, as `listBridges` shows it.
pub(super) fn get(batch: &mut Batch, args: &Args) -> Outcome {
    let name = args.str("name")?;
    let bridges = bridges(batch)?;
    let list = batch.shared.runtime.block_on(bridges.list());
    let bridge = list
        .into_iter()
        .find(|b| b.config.name == name)
        .ok_or_else(|| Failure::field("name", format!("no bridge named {name:?}")))?;
    Ok(Some(json!({ "bridge": bridge })))
}

fn bridges<'a>(batch: &Batch<'a>) -> Result<&'a std::sync::Arc<Bridges>, Failure> {
    batch
        .bridges
        .ok_or_else(|| Failure::new("bridges are not running yet"))
}

/// The `bridge` object, read as a `[[bridge]]` table and checked.
fn settings(args: &Args) -> Result<BridgeConfig, Failure> {
    let value = args
        .0
        .get("bridge")
        .ok_or_else(|| Failure::field("bridge", "`bridge` is missing"))?;
    let config: BridgeConfig = serde_json::from_value(Value::clone(value)).map_err(|err| {
        // serde names the field in its message (`unknown field `x``, `missing field `y``).
        Failure::field("bridge", format!("not bridge settings: {err}"))
    })?;
    config.validate().map_err(named)?;
    Ok(config)
}

/// A settings error, its field under `bridge.`.
fn named(err: BridgeConfigError) -> Failure {
    Failure::field(format!("bridge.{}", err.field), err.message)
}
