//! The two client sessions of a bridge: how each connects (this broker's
//! side, `$bridge/<name>`, MQTT 5, never expiring; the remote's as the
//! settings say), what a crossing message keeps, the bridge's `$SYS`
//! state, and ending a deleted bridge's session here.

use std::sync::Arc;

use bytes::Bytes;
use mqtt::{
    client::{ClientEvent, ClientOptions, ClientSession},
    Properties, QoS, RetainHandling, SubscribeFilter, SubscriptionOptions,
};

use super::pipe::{flush, Pipe};
use crate::{
    broker::Shared,
    config::bridge::{BridgeConfig, BridgeProtocol},
    net::local::BRIDGE_IDS,
    protocol::message::Message,
};

/// How many QoS 1/2 messages this broker may have in flight to the bridge
/// (its Receive Maximum here); the rest wait in the broker's queue.
pub(super) const LOCAL_INFLIGHT: u16 = 256;
/// How long a CONNECT may wait for its CONNACK.
pub(super) const CONNACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Publish a bridge's retained state; `None` clears it (a deleted bridge).
pub(crate) fn publish_state(shared: &Shared, name: &str, up: Option<bool>) {
    let topic = kite_convention::sys::topic(&format!("connection/{name}/state"));
    let payload = match up {
        Some(up) => Bytes::from(if up { "1" } else { "0" }),
        None => Bytes::new(),
    };
    shared.publish_internal(Message::sys(topic, payload));
}

/// Subscriptions of a bridge's session, either side: no-local (what the
/// bridge brings in never goes back) and retain-as-published.
pub(super) fn bridge_filters(
    filters: Vec<(String, QoS)>,
    retain_handling: RetainHandling,
) -> Vec<SubscribeFilter> {
    filters
        .into_iter()
        .map(|(filter, qos)| SubscribeFilter {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                no_local: true,
                retain_as_published: true,
                retain_handling,
            },
        })
        .collect()
}

/// The local side's client id.
pub(crate) fn local_client_id(name: &str) -> String {
    format!("{BRIDGE_IDS}{name}")
}

/// This broker's side: MQTT 5, a session that never expires.
pub(super) fn local_options(name: &str) -> ClientOptions {
    let mut options = ClientOptions::new(local_client_id(name));
    options.protocol = mqtt::Protocol::V5;
    options.clean_start = false;
    options.keep_alive = 0;
    options.manual_acks = true;
    options.properties.session_expiry_interval = Some(u32::MAX);
    options.properties.receive_maximum = Some(LOCAL_INFLIGHT);
    options
}

pub(super) fn remote_options(config: &BridgeConfig) -> ClientOptions {
    let client_id = config.client_id.clone().unwrap_or_else(|| {
        let host = hostname();
        format!("{host}.{}", config.name)
    });
    let mut options = ClientOptions::new(client_id);
    options.protocol = config.protocol.mqtt();
    options.clean_start = config.clean_start;
    options.keep_alive = config.keepalive;
    options.username = config.username.clone();
    options.password = config.password.clone().map(String::into_bytes);
    options.manual_acks = true;
    options.bridge = config.try_private && config.protocol != BridgeProtocol::V5;
    if config.protocol == BridgeProtocol::V5 {
        let forever = if config.clean_start { 0 } else { u32::MAX };
        options.properties.session_expiry_interval = Some(config.session_expiry.unwrap_or(forever));
    }
    options
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kite".into())
}

/// The properties a message keeps when it crosses: what it says about
/// itself, not how it travelled (no alias, no subscription ids).
pub(super) fn forwarded(properties: &Properties) -> Properties {
    Properties {
        payload_format_indicator: properties.payload_format_indicator,
        message_expiry_interval: properties.message_expiry_interval,
        content_type: properties.content_type.clone(),
        response_topic: properties.response_topic.clone(),
        correlation_data: properties.correlation_data.clone(),
        user_properties: properties.user_properties.clone(),
        ..Properties::default()
    }
}

/// End a deleted bridge's session here, and with it what it had queued:
/// connect once with a clean start and no session expiry, then leave.
pub(crate) async fn drop_local_session(shared: &Arc<Shared>, name: &str) {
    let Some(stream) = crate::net::local::connect(shared) else {
        tracing::warn!(
            bridge = name,
            "cannot end the bridge's session: --max-connections reached"
        );
        return;
    };
    let mut options = local_options(name);
    options.clean_start = true;
    options.properties.session_expiry_interval = Some(0);
    let mut session = ClientSession::new(options);
    let mut pipe = Pipe::new(Box::new(stream));
    if session.connect(0).is_err() {
        return;
    }
    flush(&mut session, &pipe);
    let connected = tokio::time::timeout(CONNACK_TIMEOUT, async {
        while let Some(bytes) = pipe.input.recv().await {
            match session.receive(&bytes, 0) {
                Ok(events)
                    if events
                        .iter()
                        .any(|e| matches!(e, ClientEvent::Connected { .. })) =>
                {
                    return true
                }
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    })
    .await;
    if connected == Ok(true) {
        let _ = session.disconnect(0);
        flush(&mut session, &pipe);
    }
}
