//! Fill a data dir with many retained messages and persistent sessions, to
//! measure the broker's start-up time on a big store:
//!
//! ```sh
//! cargo run --release -p kite-server --example fill_store -- /tmp/big 1000000 10000
//! time target/release/kite-server --data-dir /tmp/big …   # see "store loaded in"
//! ```

use std::sync::Arc;

use bytes::Bytes;
use kite_server::{
    config::Durability,
    protocol::message::Message,
    store::{Op, RedbStore, SessionRecord, SessionStore, StoredSubscription},
};
use mqtt::{Protocol, QoS, SubscriptionOptions};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: fill_store DIR RETAINED SESSIONS");
    let retained: usize = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("a count"));
    let sessions: usize = args.next().map_or(10_000, |n| n.parse().expect("a count"));
    let (store, _) = RedbStore::open(dir.as_ref(), Durability::Batch).expect("store opens");
    let started = std::time::Instant::now();
    let mut ops = Vec::new();
    for n in 0..retained {
        let message = Message {
            topic: format!("devices/d{}/sensor/{}", n / 10, n % 10).into(),
            payload: Bytes::from(format!("{{\"value\":{n}}}")),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Default::default(),
            origin: Arc::from("fill"),
            expires_at: None,
        };
        ops.push(Op::PutRetained(Arc::new(message)));
        if ops.len() == 10_000 {
            store.submit(std::mem::take(&mut ops), false);
        }
    }
    for n in 0..sessions {
        let record = SessionRecord {
            protocol: Protocol::V311,
            expiry_interval: u32::MAX,
            disconnected_at: 0,
            subscriptions: vec![StoredSubscription {
                filter: format!("devices/d{n}/#").into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..SubscriptionOptions::default()
                },
                id: None,
            }],
            incoming_qos2: vec![],
        };
        ops.push(Op::PutSession {
            client: Arc::from(format!("client-{n}").as_str()),
            record,
        });
    }
    if let Some(ticket) = store.submit(ops, true) {
        ticket.committed().await;
    }
    println!(
        "wrote {retained} retained messages and {sessions} sessions in {:?}",
        started.elapsed()
    );
}
