//! `GET /api/history?op=series|last|events&...` on the HTTP port: the
//! history's query for scripts and Grafana's JSON / Infinity data sources,
//! answered with the same JSON as `$kite/history/query`.
//!
//! Parameters: `op` (default `series`); `devices` and `measurements`
//! (comma-separated ids or globs); `from` and `to` (Unix ms or `-24h`,
//! `now`); `resolution` (`auto`, `raw`, `1m`, `15m`); for events
//! `severity`, `text`, `limit` and `before` (`<ts>:<seq>`, the previous
//! page's `next_before`).
//!
//! The same access rules as MQTT: where an MQTT client would need
//! credentials (the password file, anonymous clients not allowed on this
//! listener), the request needs HTTP Basic credentials from the password
//! file, and the ACL of that user decides what the answer shows.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use base64::Engine;
use kite_convention::history::{Answer, Cursor, Query, Resolution, Time};
use mqtt::{Connect, Properties, Protocol};

use crate::{
    broker::Shared,
    history::Reader,
    security::{
        auth::{authenticate, Origin},
        tls::PeerIdentity,
    },
};

/// `GET /api/history`.
pub(crate) async fn history(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    identity: Option<Extension<PeerIdentity>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = match parse(raw.as_deref().unwrap_or("")) {
        Ok(query) => query,
        Err(err) => return reply(StatusCode::BAD_REQUEST, &Answer::error(err)),
    };
    let credentials = match basic_credentials(&headers) {
        Ok(credentials) => credentials,
        Err(err) => return reply(StatusCode::BAD_REQUEST, &Answer::error(err)),
    };
    let origin = Origin {
        identity: identity.and_then(|Extension(PeerIdentity(id))| id),
        ..Origin::new(shared.config.http)
    };
    let (username, password) = credentials.unzip();
    let connect = Connect {
        protocol: Protocol::V5,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        client_id: "http".into(),
        will: None,
        username: username.map(Into::into),
        password: password.map(Into::into),
        properties: Properties::default(),
    };
    let user = match authenticate(
        &shared.access,
        &shared.config,
        &shared.limits.counters,
        &connect,
        &origin,
    )
    .await
    {
        Ok(user) => user,
        Err(code) => {
            tracing::info!(%peer, ?code, "history API refused: not authenticated");
            let mut response = reply(
                StatusCode::UNAUTHORIZED,
                &Answer::error("credentials needed: HTTP Basic, a user of the password file"),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"kite\""),
            );
            return response;
        }
    };
    let rules = shared
        .access
        .acl()
        .map(|acl| acl.rules_for("http", user.as_deref()));
    let reader: Reader =
        Box::new(move |topic: &str| rules.as_ref().is_none_or(|rules| rules.can_read(topic)));
    match shared.history.ask(query, reader).await {
        Ok(answer @ Answer::Error(_)) => reply(StatusCode::BAD_REQUEST, &answer),
        Ok(answer) => reply(StatusCode::OK, &answer),
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &Answer::error("the history is shutting down"),
        ),
    }
}

fn reply(status: StatusCode, answer: &Answer) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_json(),
    )
        .into_response()
}

/// `Authorization: Basic …` as (user, password), if given.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, Vec<u8>)>, String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || "the Authorization header is not HTTP Basic credentials".to_string();
    let encoded = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(bad)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let at = decoded.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let user = String::from_utf8(decoded[..at].to_vec()).map_err(|_| bad())?;
    Ok(Some((user, decoded[at + 1..].to_vec())))
}

/// The query string as a [`Query`].
pub(crate) fn parse(raw: &str) -> Result<Query, String> {
    let mut op = "series".to_string();
    let mut devices = Vec::new();
    let mut measurements = Vec::new();
    let (mut from, mut to) = (None, None);
    let mut resolution = Resolution::Auto;
    let (mut severity, mut text, mut before, mut limit) = (None, None, None, None);
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let time = |v: &str| match v.parse::<u64>() {
        Ok(ms) => Time::Unix(ms),
        Err(_) => Time::Relative(v.to_string()),
    };
    let json = |v: &str| serde_json::Value::String(v.to_string());
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let value = value.as_ref();
        match key.as_ref() {
            "op" => op = value.to_string(),
            "devices" | "device" => devices.extend(list(value)),
            "measurements" | "measurement" => measurements.extend(list(value)),
            "from" => from = Some(time(value)),
            "to" => to = Some(time(value)),
            "resolution" => {
                resolution = serde_json::from_value(json(value))
                    .map_err(|_| format!("resolution {value:?}: auto, raw, 1m or 15m"))?
            }
            "severity" => {
                severity = Some(
                    serde_json::from_value(json(value))
                        .map_err(|_| format!("severity {value:?}: info, warning or critical"))?,
                )
            }
            "text" => text = Some(value.to_string()),
            "limit" => {
                limit = Some(
                    value
                        .parse()
                        .map_err(|_| format!("limit {value:?} is not a count"))?,
                )
            }
            "before" => {
                let (ts, seq) = value
                    .split_once(':')
                    .and_then(|(ts, seq)| Some((ts.parse().ok()?, seq.parse().ok()?)))
                    .ok_or_else(|| format!("before {value:?}: <ts>:<seq>, a next_before"))?;
                before = Some(Cursor { ts, seq });
            }
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    match op.as_str() {
        "series" => Ok(Query::Series {
            devices,
            measurements,
            from,
            to,
            resolution,
        }),
        "last" => Ok(Query::Last { devices }),
        "events" => Ok(Query::Events {
            devices,
            severity,
            text,
            before,
            limit,
        }),
        other => Err(format!("op {other:?}: series, last or events")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_read_as_documented() {
        assert_eq!(
            parse("devices=sim-1,sim-2&measurement=temperature&from=-24h&resolution=1m"),
            Ok(Query::Series {
                devices: vec!["sim-1".into(), "sim-2".into()],
                measurements: vec!["temperature".into()],
                from: Some(Time::Relative("-24h".into())),
                to: None,
                resolution: Resolution::Minute,
            })
        );
        assert_eq!(parse("op=last"), Ok(Query::Last { devices: vec![] }));
        assert_eq!(
            parse("op=events&severity=warning&text=front%20door&before=17:3&limit=20"),
            Ok(Query::Events {
                devices: vec![],
                severity: Some(kite_convention::Severity::Warning),
                text: Some("front door".into()),
                before: Some(Cursor { ts: 17, seq: 3 }),
                limit: Some(20),
            })
        );
        assert_eq!(
            parse("from=1700000000000&to=now"),
            Ok(Query::Series {
                devices: vec![],
                measurements: vec![],
                from: Some(Time::Unix(1_700_000_000_000)),
                to: Some(Time::Relative("now".into())),
                resolution: Resolution::Auto,
            })
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        for (raw, named) in [
            ("op=delete", "delete"),
            ("resolution=5m", "5m"),
            ("severity=loud", "loud"),
            ("limit=many", "many"),
            ("before=yesterday", "yesterday"),
            ("color=red", "color"),
        ] {
            let err = parse(raw).unwrap_err();
            assert!(err.contains(named), "{raw}: {err}");
        }
    }
}
