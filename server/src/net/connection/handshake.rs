//! The start of a connection: CONNECT in (within `--connect-timeout`),
//! keepalive, client id, authentication and will checked, the client id
//! claimed (taking it over if need be), the session resumed or begun, and
//! CONNACK out.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::BytesMut;
use mqtt::{ConnAck, Connect, Packet, Properties, Protocol, ReasonCode};
use tokio::time::timeout_at;

use super::{encode, flush, goodbye, keep_alive_limit, write_packet, End, Live};
use crate::{
    broker::Shared,
    metrics::{ConnectionSlot, Counters},
    net::{
        connack::{client_id_for, connack_properties, refusal},
        local::BRIDGE_IDS,
        transport::Transport,
    },
    protocol::{
        message::Message,
        session::{server_limits, Session},
    },
    routing::{
        mailbox,
        registry::{ClientInfo, Kick},
    },
    security::{auth::Origin, policy::ClientPolicy},
};

/// CONNECT in, CONNACK out: `None` when the connection was refused (and is
/// closed); otherwise the connection, and whether the CONNACK went out.
pub(super) async fn handshake(
    mut transport: Transport,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    origin: Origin,
    slot: ConnectionSlot,
) -> Option<(Box<Live>, Result<(), End>)> {
    let mut input = BytesMut::new();
    let connect_timeout = Duration::from_secs(shared.config.connect_timeout);
    // The connect timeout runs from accept, whatever came before (TLS handshake).
    let connect = match timeout_at(
        origin.accepted + connect_timeout,
        read_connect(&mut transport, &mut input, shared),
    )
    .await
    {
        Ok(Ok(connect)) => connect,
        Ok(Err(reason)) => {
            tracing::info!(%peer, transport = transport.kind(), "closed before CONNECT: {reason}");
            goodbye(transport).await;
            return None;
        }
        Err(_) => {
            Counters::add(&shared.limits.counters.connect_timeouts);
            tracing::info!(%peer, transport = transport.kind(), "no CONNECT within {connect_timeout:?}; closed");
            goodbye(transport).await;
            return None;
        }
    };
    let mut connect = connect;
    let protocol = connect.protocol;
    let max_keep_alive = shared.config.max_keepalive;
    if connect.keep_alive > max_keep_alive {
        Counters::add(&shared.limits.counters.keepalive_limited);
    }
    let server_keep_alive = if connect.keep_alive > max_keep_alive || connect.keep_alive == 0 {
        if !protocol.is_v5() && connect.keep_alive > max_keep_alive {
            // 3.1.1 has no way to tell the client; refuse as Mosquitto does.
            tracing::info!(%peer, keep_alive = connect.keep_alive, "refused: keepalive above --max-keepalive");
            let connack = refusal(ReasonCode::ClientIdentifierNotValid);
            let _ = write_packet(&mut transport, &connack, protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
        // v5: CONNACK's Server Keep Alive overrides the client's (MQTT-3.2.2-21).
        (protocol.is_v5() && max_keep_alive < u16::MAX).then(|| {
            connect.keep_alive = max_keep_alive;
            max_keep_alive
        })
    } else {
        None
    };
    let Some((client_id, assigned)) = client_id_for(&connect) else {
        tracing::info!(%peer, "refused: empty client id with a persistent session");
        let connack = refusal(ReasonCode::ClientIdentifierNotValid);
        let _ = write_packet(&mut transport, &connack, protocol, shared).await;
        goodbye(transport).await;
        return None;
    };
    if client_id.starts_with(BRIDGE_IDS) && !origin.internal {
        tracing::info!(%peer, client_id = %client_id, "refused: {BRIDGE_IDS} client ids are the broker's own bridges'");
        let connack = refusal(ReasonCode::ClientIdentifierNotValid);
        let _ = write_packet(&mut transport, &connack, protocol, shared).await;
        goodbye(transport).await;
        return None;
    }
    let authenticated = crate::security::auth::authenticate(
        &shared.access,
        &shared.config,
        &shared.limits.counters,
        &connect,
        &origin,
    );
    let username = match authenticated.await {
        Ok(username) => username,
        Err(code) => {
            tracing::info!(%peer, client_id = %client_id, user = ?connect.username, ?code, "refused: not authenticated");
            let _ = write_packet(&mut transport, &refusal(code), protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
    };
    let mut policy = ClientPolicy::new(&shared.config, username.clone(), protocol, connect.bridge);
    if origin.internal {
        policy.trust();
    }
    if let Some(will) = &connect.will {
        if let Err(code) = policy.can_will(shared.checks(&client_id), &will.topic) {
            tracing::info!(%peer, client_id = %client_id, ?code, "refused: the will topic is not allowed");
            let _ = write_packet(&mut transport, &refusal(code), protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
    }
    if let Some(ids) = shared.client_ids.get() {
        // In a cluster: once no other node holds this client id.
        if !ids
            .claim(&client_id, !connect.clean_start)
            .committed()
            .await
        {
            tracing::info!(%peer, client_id = %client_id, "refused: its session is on another node, which did not hand it over");
            // 3.1.1 return code 3, "Server unavailable", as well.
            let code = ReasonCode::ServerUnavailable;
            let _ = write_packet(&mut transport, &refusal(code), protocol, shared).await;
            goodbye(transport).await;
            return None;
        }
    }
    let kick = Arc::new(Kick::new(ClientInfo {
        username: username.clone(),
        address: peer.into(),
        protocol,
        transport: transport.via(),
        since_ms: crate::util::clock::now_unix_ms(),
        subscriptions: Default::default(),
        in_flight: Default::default(),
        expiry: Default::default(),
    }));
    let resumes = !connect.clean_start;
    let (connection, parked) = shared
        .registry
        .attach(&client_id, kick.clone(), resumes)
        .await;
    if shared
        .client_ids
        .get()
        .is_some_and(|ids| ids.registered(&client_id))
    {
        // Another node connected this id while this one was claiming it:
        // the later wins, this connection ends at its first turn (0x8E).
        kick.take_over(false);
    }
    shared.stats.clients_connected.add(1);
    shared.stats.clients_total.add(1);
    let limits = server_limits(&shared.config);
    let (mut session, tx, rx, resent) = match parked {
        Some(mut parked) if !connect.clean_start => {
            let resent = parked.session.resume(&connect);
            (parked.session, parked.tx, parked.rx, Some(resent))
        }
        other => {
            if let Some(old) = other {
                // Clean start: the old session and its subscriptions go.
                shared.forget_session(&old.session);
            }
            let (tx, rx) = mailbox::mailbox(shared.config.max_queued_messages);
            let session = Session::new(&connect, client_id.clone(), connection, limits);
            (session, tx, rx, None)
        }
    };
    // A resumed session's record now says the client is back.
    let stored = shared.persist(&mut session, 0);
    if let Some(ticket) = stored.filter(|_| session.is_persistent()) {
        // Stored before the CONNACK: the QoS 2 packet ids of what resumes
        // (in a cluster, its copy kept too; that fails only when another
        // node claimed the id since, and then this connection is closed).
        ticket.committed().await;
    }
    if let Some(wills) = shared.wills.get() {
        // In a cluster: the will kept where other nodes find it (or any
        // will pending for this id cancelled) before the CONNACK.
        let will = session.will.as_deref().map(|will| {
            let delay = super::end::will_delay(will, session.expiry_interval);
            (Message::from_will(will.clone(), client_id.clone()), delay)
        });
        if let Some(kept) = wills.connected(&client_id, connection, will) {
            kept.committed().await;
        }
    }
    let connack = Packet::ConnAck(ConnAck {
        session_present: resent.is_some(),
        code: ReasonCode::Success,
        properties: Properties {
            server_keep_alive,
            ..connack_properties(&connect, assigned.then_some(&client_id), limits, shared)
        },
    });
    tracing::info!(%peer, transport = transport.kind(), client_id = %client_id, connection, user = ?username, ?protocol, session_present = resent.is_some(), "client connected");
    if session.bridge {
        // Mosquitto's `try_private`: no echo, retain as published (Session::subscription_options).
        tracing::info!(%peer, client_id = %client_id, "the client is a bridge: its subscriptions are no-local and retain-as-published");
    }
    let mut output = BytesMut::new();
    encode(&connack, protocol, &mut output);
    for packet in resent.into_iter().flatten() {
        encode(&packet, protocol, &mut output);
    }
    kick.info.update(&session);
    shared
        .registry
        .set_queue(&client_id, connection, tx.clone());
    let sent = flush(&mut transport, &mut output, shared)
        .await
        .map_err(|err| End::Closed(err.to_string()));
    kick.set_keepalive_deadline(
        keep_alive_limit(session.keep_alive).map(|k| std::time::Instant::now() + k),
    );
    let live = Box::new(Live {
        transport,
        // Kept even when empty: the first read after CONNECT reuses its room.
        input: Some(Box::new(input)),
        session,
        tx,
        rx,
        kick,
        policy,
        shared: shared.clone(),
        connection,
        _slot: slot,
        bed: None,
    });
    Some((live, sent))
}

/// Read until a whole CONNECT arrives. Anything else first is a protocol error.
async fn read_connect(
    transport: &mut Transport,
    input: &mut BytesMut,
    shared: &Shared,
) -> Result<Connect, String> {
    loop {
        match mqtt::decode(input, Protocol::V311, shared.config.max_packet_size) {
            Ok(Some(Packet::Connect(connect))) => return Ok(*connect),
            Ok(Some(other)) => {
                return Err(format!(
                    "first packet was {:?}, not CONNECT",
                    other.packet_type()
                ))
            }
            // MQTT-3.1.0-1: the first packet is a CONNECT. An incomplete
            // packet of another type is refused now, not after waiting for as
            // many bytes as its header claims.
            Ok(None) => {
                if let Some(&first) = input.first().filter(|&&b| b != 0x10) {
                    return Err(format!("first byte {first:#04x} does not start a CONNECT"));
                }
            }
            Err(err) => {
                shared.limits.counters.note_decode_error(&err);
                if err.reason_code() == ReasonCode::UnsupportedProtocolVersion {
                    // MQTT-3.1.2-2: answer with return code 0x01 (3.1.1 form), then close.
                    let refusal = refusal(ReasonCode::UnsupportedProtocolVersion);
                    let _ = write_packet(transport, &refusal, Protocol::V311, shared).await;
                }
                return Err(format!("malformed CONNECT: {err}"));
            }
        }
        match transport.read(input).await {
            Ok(0) => return Err("peer closed".into()),
            Ok(n) => shared.stats.bytes_received.add(n as u64),
            Err(err) => return Err(err.to_string()),
        }
    }
}
