//! The broker's background tasks, each a step run by [`every`] until
//! shutdown: keepalive checks of dormant connections, the retained-message
//! expiry sweep, the alarm engine's timers, giving memory back after a burst.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{broker::Shared, routing::registry::KEEPALIVE_TICK, util::trim};

/// Run `step` now and then every `interval`, until `shutdown` turns true.
pub(super) async fn every(
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut step: impl FnMut(),
) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => step(),
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Start the background tasks.
pub(super) fn spawn_all(shared: &Arc<Shared>) {
    spawn(shared, KEEPALIVE_TICK, |shared| {
        // Dormant connections have no timer of their own: wake those whose
        // keepalive is due.
        shared.registry.wake_due(std::time::Instant::now())
    });
    // Drop retained messages whose expiry interval has passed, from memory
    // and from the store, so neither grows with dead messages.
    spawn(
        shared,
        Duration::from_secs(10),
        Shared::drop_expired_retained,
    );
    // Raise `offline_for` alarms as they fall due.
    spawn(shared, Duration::from_secs(1), Shared::tick_alarms);
    // Give back what a burst of wake-ups left behind (a broadcast to dormant
    // connections): the aligned lists' surplus, then glibc's free pages.
    tokio::spawn(every(trim::EVERY, shared.shutdown.clone(), || {
        if trim::release() {
            tokio::task::spawn_blocking(trim::trim_system);
        }
    }));
}

fn spawn(shared: &Arc<Shared>, interval: Duration, step: fn(&Shared)) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let stop = shared.shutdown.clone();
        every(interval, stop, || step(&shared)).await
    });
}
