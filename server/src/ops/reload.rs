//! What the broker says at start-up about access control, and the reload
//! of the password file and the ACL on SIGHUP.

use std::sync::Arc;

use crate::{broker::Shared, security::auth::startup_notes};

/// Say at start-up how access is controlled, and reload the password file
/// and the ACL on SIGHUP (a bad file is logged and the old one kept).
pub(super) fn announce(shared: &Arc<Shared>) {
    let config = &shared.config;
    let mut listeners = vec![
        ("MQTT over TCP", config.tcp),
        ("HTTP/WebSocket", config.http),
    ];
    if let Some(tls) = config.tls {
        listeners.push(("MQTT over TLS", tls));
    }
    for note in startup_notes(config, &listeners) {
        tracing::warn!("{note}");
    }
    let access = &shared.access;
    tracing::info!(
        password_file = %config.password_file.as_deref().map_or("none".into(), |p| p.display().to_string()),
        users = access.passwords().map_or(0, |p| p.len()),
        acl_file = %config.acl_file.as_deref().map_or("none".into(), |p| p.display().to_string()),
        acl_rules = access.acl().map_or(0, |a| a.len()),
        "access control"
    );
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut stop = shared.shutdown.clone();
                    loop {
                        tokio::select! {
                            got = hangups.recv() => if got.is_none() { return },
                            _ = stop.wait_for(|stopped| *stopped) => return,
                        }
                        match shared.access.reload(&shared.config) {
                            Ok(summary) => tracing::info!("SIGHUP: reloaded ({summary})"),
                            Err(err) => tracing::error!(
                                "SIGHUP: reload failed, keeping the old files: {err}"
                            ),
                        }
                    }
                });
            }
            Err(err) => tracing::warn!(%err, "cannot listen for SIGHUP; no reloads"),
        }
    }
}
