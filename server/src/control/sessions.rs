//! The live clients view and its actions: `listSessions` (connected
//! clients and parked persistent sessions, with their counters),
//! `disconnectClient` and `deleteSession`.

use mqtt::ReasonCode;
use serde_json::json;

use super::{
    request::{page, Args, Failure, Outcome},
    Batch,
};

/// The reasons `disconnectClient` may give (MQTT 5 DISCONNECT codes a
/// server sends); 0x98 (Administrative action) when none is given.
const REASONS: [ReasonCode; 8] = [
    ReasonCode::UnspecifiedError,
    ReasonCode::NotAuthorized,
    ReasonCode::ServerBusy,
    ReasonCode::ServerShuttingDown,
    ReasonCode::SessionTakenOver,
    ReasonCode::AdministrativeAction,
    ReasonCode::UseAnotherServer,
    ReasonCode::ServerMoved,
];

/// `listSessions`: count, offset, and `connected` (true or false: only
/// those) → `{"totalCount": n, "sessions": [SessionView, ...]}`.
pub(super) fn list(batch: &mut Batch, args: &Args) -> Outcome {
    let connected = args.opt_bool("connected")?;
    let sessions: Vec<_> = batch
        .shared
        .registry
        .sessions()
        .into_iter()
        .filter(|s| connected.is_none_or(|c| s.connected == c))
        .collect();
    let total = sessions.len();
    Ok(Some(json!({
        "totalCount": total,
        "sessions": page(sessions, args.page()?),
    })))
}

/// `disconnectClient`: clientid, reason (a number; 152 = 0x98 by default).
/// An MQTT 5 client gets DISCONNECT with it; a 3.1.1 client is closed. Its
/// will is published, and a persistent session is kept.
pub(super) fn disconnect(batch: &mut Batch, args: &Args) -> Outcome {
    let clientid = args.str("clientid")?;
    let reason = match args.opt_i64("reason")? {
        None => ReasonCode::AdministrativeAction,
        Some(n) => u8::try_from(n)
            .ok()
            .and_then(ReasonCode::from_u8)
            .filter(|r| REASONS.contains(r))
            .ok_or_else(|| {
                let allowed: Vec<String> = REASONS.iter().map(|r| (*r as u8).to_string()).collect();
                Failure::field(
                    "reason",
                    format!("reason {n} is not one of {}", allowed.join(", ")),
                )
            })?,
    };
    if !batch.shared.registry.disconnect(clientid, reason) {
        return Err(Failure::field(
            "clientid",
            format!("client `{clientid}` is not connected"),
        ));
    }
    tracing::info!(
        client_id = clientid,
        ?reason,
        "client disconnected through the $CONTROL API"
    );
    Ok(None)
}

/// `deleteSession`: clientid. The parked session goes, with its
/// subscriptions and queue, from memory and from the store. A connected
/// client's session is not deleted: disconnect it first.
pub(super) fn delete(batch: &mut Batch, args: &Args) -> Outcome {
    let clientid = args.str("clientid")?;
    match batch.shared.registry.take_parked(clientid) {
        Ok(parked) => {
            batch.shared.forget_session(&parked.session);
            tracing::info!(
                client_id = clientid,
                "session deleted through the $CONTROL API"
            );
            Ok(None)
        }
        Err(true) => Err(Failure::field(
            "clientid",
            format!("client `{clientid}` is connected: disconnect it first"),
        )),
        Err(false) => Err(Failure::field(
            "clientid",
            format!("no session is kept for client `{clientid}`"),
        )),
    }
}
