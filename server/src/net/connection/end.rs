//! The end of a connection, whichever way it came: tell a v5 client why,
//! close without a reset, publish the will when it is due, then park a
//! persistent session or forget it.

use std::{sync::Arc, time::Duration};

use mqtt::{Disconnect, LastWill, Packet, Properties};

use super::{write_packet, End, Live, LINGER};
use crate::{
    broker::Shared,
    net::transport::Transport,
    protocol::{message::Message, session::ProtocolError},
    routing::registry::Parked,
    store,
};

/// Close politely, then read what the peer still sends in a task of its
/// own, for at most [`LINGER`].
pub(super) async fn goodbye(mut transport: Transport) {
    transport.close().await;
    tokio::spawn(transport.linger(LINGER));
}

/// The one place a connection ends: tell a v5 client why, publish the will
/// when the end was abnormal, then park a persistent session or forget it.
pub(super) async fn finish(live: Box<Live>, end: End) {
    let Live {
        mut transport,
        session,
        tx,
        rx,
        connection,
        shared,
        kick,
        ..
    } = *live;
    let shared = &shared;
    kick.info.update(&session);
    let parked = Parked {
        session,
        tx,
        rx,
        info: Some(kick.clone()),
    };
    let session = &parked.session;
    let client_id = session.client_id.clone();
    let will_due = match &end {
        End::Normal { publish_will } => {
            tracing::info!(client_id = %client_id, connection, "client disconnected");
            *publish_will
        }
        End::Closed(reason) => {
            tracing::info!(client_id = %client_id, connection, "connection closed: {reason}");
            true
        }
        End::Error(err) => {
            tracing::info!(client_id = %client_id, connection, reason = ?err.reason_code(), "closing connection: {err}");
            if session.protocol.is_v5() {
                let disconnect = Packet::Disconnect(Disconnect {
                    reason: err.reason_code(),
                    properties: Properties {
                        reason_string: Some(err.to_string().into()),
                        ..Properties::default()
                    },
                });
                let _ = write_packet(&mut transport, &disconnect, session.protocol, shared).await;
            }
            match err {
                ProtocolError::ServerShuttingDown => false,
                // A survivor adopted the will and fired it already.
                ProtocolError::TakenForDead => false,
                // The session goes on in the new connection: it did not end,
                // so its will is not due (docs/sessions.md, "Wills").
                ProtocolError::SessionTakenOver => !(kick.resumed() && session.is_persistent()),
                _ => true,
            }
        }
    };
    // Taken over by a clean start, the session ends now, and with it any
    // Will Delay Interval (§3.1.3.2.2): the will goes at once.
    let session_ended = matches!(&end, End::Error(ProtocolError::SessionTakenOver));
    // The rest of the goodbye goes on without holding up the client id.
    goodbye(transport).await;
    let will = if will_due {
        session.will.as_deref().cloned()
    } else {
        None
    };
    shared.stats.clients_connected.sub(1);
    let session_expiry = session.expiry_interval;
    let mut parked = parked;
    if parked.session.is_persistent() {
        let generation = parked.session.generation;
        shared.persist(&mut parked.session, store::now_unix_ms());
        // Aliases are per connection (MQTT-3.3.2-7); what is in flight stays.
        parked.session.forget_aliases();
        parked.session.settle();
        shared.registry.detach(&client_id, connection, Some(parked));
        if session_expiry != u32::MAX {
            let expiry = Duration::from_secs(u64::from(session_expiry));
            shared.schedule_expiry(client_id.clone(), generation, expiry);
        }
    } else {
        shared.forget_session(&parked.session);
        shared.registry.detach(&client_id, connection, None);
    }
    if let Some(ids) = shared.client_ids.get() {
        ids.release(&client_id);
    }
    let delay_bound = if session_ended { 0 } else { session_expiry };
    if let Some(wills) = shared.wills.get() {
        // A cluster: the will fires once cluster-wide (cluster::wills).
        let due = will.map(|will| {
            let delay = will_delay(&will, delay_bound);
            (Message::from_will(will, client_id.clone()), delay)
        });
        wills.ended(&client_id, connection, due);
    } else if let Some(will) = will {
        publish_will(will, client_id, delay_bound, shared);
    }
}

/// The Will Delay Interval (v5) of `will`, bounded by the session's
/// expiry: the session's end ends the delay too (§3.1.3.2.2).
pub(super) fn will_delay(will: &LastWill, session_expiry: u32) -> u32 {
    will.properties
        .will_delay_interval
        .unwrap_or(0)
        .min(session_expiry)
}

/// Publish a will now, or after its Will Delay Interval (v5) unless the
/// client is back by then. The session's end also ends the delay (§3.1.3.2.2).
fn publish_will(will: LastWill, client_id: Arc<str>, session_expiry: u32, shared: &Arc<Shared>) {
    let delay = will_delay(&will, session_expiry);
    let message = Message::from_will(will, client_id.clone());
    if delay == 0 {
        shared.publish(message, None);
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(u64::from(delay))).await;
        if shared.registry.is_connected(&client_id) {
            tracing::debug!(client_id = %client_id, "client is back: delayed will dropped");
        } else {
            shared.publish(message, None);
        }
    });
}
