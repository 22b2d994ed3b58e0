//! The seams: a backplane sees what this node publishes and subscribes to,
//! delivers what other nodes published, and holds back acknowledgements
//! until it has made a message safe.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clap::Parser;
use mqtt::{QoS, SubscriptionOptions};
use tokio::sync::{oneshot, watch};

use super::{Backplane, Seams, Shared};
use crate::{
    config::Config,
    history::History,
    protocol::message::Message,
    routing::{
        mailbox::{self, Receiver},
        retained::MemoryRetained,
        router::{Subscriber, Subscription},
    },
    security::auth::Access,
    store::{RedbStore, Ticket},
};

/// What a backplane was told, in order.
#[derive(Debug, PartialEq)]
enum Heard {
    Publish { topic: String, wait: bool },
    Subscribed(String),
    Unsubscribed(String),
}

/// A backplane that records what it hears; its publish tickets resolve
/// when the test says so.
#[derive(Default, Clone)]
struct Recording {
    heard: Arc<Mutex<Vec<Heard>>>,
    pending: Arc<Mutex<Vec<oneshot::Sender<()>>>>,
}

impl Recording {
    fn take(&self) -> Vec<Heard> {
        std::mem::take(&mut self.heard.lock().unwrap())
    }
}

impl Backplane for Recording {
    fn publish(&self, message: &Arc<Message>, wait: bool) -> Option<Ticket> {
        self.heard.lock().unwrap().push(Heard::Publish {
            topic: message.topic.to_string(),
            wait,
        });
        wait.then(|| {
            let (done, ticket) = Ticket::new();
            self.pending.lock().unwrap().push(done);
            ticket
        })
    }

    fn subscribed(&self, filter: &str) -> Option<Ticket> {
        self.heard
            .lock()
            .unwrap()
            .push(Heard::Subscribed(filter.into()));
        None
    }

    fn unsubscribed(&self, filter: &str) {
        self.heard
            .lock()
            .unwrap()
            .push(Heard::Unsubscribed(filter.into()));
    }
}

fn broker(backplane: Recording) -> Shared {
    let config = Config::parse_from(["kite-server"]);
    let access = Access::load(&config).expect("no files to load");
    let seams = Seams {
        retained: Box::new(MemoryRetained::default()),
        store: Box::new(RedbStore::memory()),
        backplane: Box::new(backplane),
    };
    Shared::new(
        config,
        access,
        seams,
        History::off(),
        watch::channel(false).1,
    )
}

fn message(topic: &str, qos: QoS) -> Message {
    Message {
        topic: topic.into(),
        payload: Bytes::from_static(b"21.5"),
        qos,
        retain: false,
        properties: Default::default(),
        origin: Arc::from("sensor"),
        expires_at: None,
    }
}

/// Subscribe `client` to `filter` with a fresh queue; returns the queue.
fn subscribe(shared: &Shared, client: &str, filter: &str) -> Receiver {
    let (tx, rx) = mailbox::mailbox(16);
    let subscriber = Subscriber {
        connection: 1,
        tx,
        persistent: false,
    };
    let subscription = Subscription {
        options: SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            ..SubscriptionOptions::default()
        },
        id: None,
    };
    shared.subscribe(&Arc::from(client), filter, subscription, subscriber);
    rx
}

#[tokio::test]
async fn a_client_publish_reaches_local_subscribers_and_the_backplane() {
    let backplane = Recording::default();
    let shared = broker(backplane.clone());
    let mut rx = subscribe(&shared, "dashboard", "devices/+/telemetry");
    backplane.take();

    let routed = shared.publish(message("devices/d1/telemetry", QoS::AtMostOnce), None);
    assert_eq!(routed.subscribers, 1);
    assert!(routed.ticket.is_none(), "QoS 0 waits for nobody");
    assert_eq!(rx.try_recv().unwrap().message.topic, "devices/d1/telemetry");
    assert_eq!(
        backplane.take(),
        vec![Heard::Publish {
            topic: "devices/d1/telemetry".into(),
            wait: false
        }]
    );
}

#[tokio::test]
async fn a_qos1_acknowledgement_waits_for_the_backplane() {
    let backplane = Recording::default();
    let shared = broker(backplane.clone());
    let routed = shared.publish(message("devices/d1/battery", QoS::AtLeastOnce), None);
    let ticket = routed
        .ticket
        .expect("the backplane must make it safe first");
    let mut committed = tokio::spawn(ticket.committed());
    tokio::task::yield_now().await;
    assert!(
        finished_within_20ms(&mut committed).await.is_none(),
        "resolved before the backplane did"
    );
    backplane
        .pending
        .lock()
        .unwrap()
        .pop()
        .unwrap()
        .send(())
        .unwrap();
    assert!(committed.await.unwrap());

    // A backplane that fails (drops its sender) fails the acknowledgement.
    let routed = shared.publish(message("devices/d1/battery", QoS::AtLeastOnce), None);
    backplane.pending.lock().unwrap().clear();
    assert!(!routed.ticket.unwrap().committed().await);
}

/// `Some` with the task's output if it finishes within 20 ms.
async fn finished_within_20ms<T>(task: &mut tokio::task::JoinHandle<T>) -> Option<T> {
    tokio::time::timeout(std::time::Duration::from_millis(20), task)
        .await
        .ok()
        .map(|joined| joined.unwrap())
}

#[tokio::test]
async fn a_remote_publish_is_delivered_here_and_not_sent_back() {
    let backplane = Recording::default();
    let shared = broker(backplane.clone());
    let mut rx = subscribe(&shared, "dashboard", "devices/#");
    backplane.take();

    let routed = shared.publish_remote(
        message("devices/d2/temperature", QoS::AtLeastOnce),
        super::Remote::Live,
        None,
    );
    assert_eq!(routed.subscribers, 1);
    assert_eq!(
        rx.try_recv().unwrap().message.topic,
        "devices/d2/temperature"
    );
    assert_eq!(backplane.take(), vec![], "a loop between nodes");
}

#[tokio::test]
async fn sys_topics_stay_on_this_node() {
    let backplane = Recording::default();
    let shared = broker(backplane.clone());
    shared.publish_internal(message("$SYS/broker/uptime", QoS::AtMostOnce));
    shared.publish_internal(message("$kite/alarms/events", QoS::AtLeastOnce));
    assert_eq!(
        backplane.take(),
        vec![Heard::Publish {
            topic: "$kite/alarms/events".into(),
            wait: false
        }]
    );
}

#[tokio::test]
async fn the_backplane_hears_each_subscription_begin_and_end() {
    let backplane = Recording::default();
    let shared = broker(backplane.clone());
    let _rx = subscribe(&shared, "a", "devices/+/telemetry");
    // The same client and filter again replaces the subscription: no news.
    let _rx = subscribe(&shared, "a", "devices/+/telemetry");
    let _rx = subscribe(&shared, "b", "$share/g/jobs/#");
    assert!(shared.unsubscribe("a", "devices/+/telemetry"));
    assert!(!shared.unsubscribe("a", "devices/+/telemetry"));
    assert_eq!(
        backplane.take(),
        vec![
            Heard::Subscribed("devices/+/telemetry".into()),
            Heard::Subscribed("$share/g/jobs/#".into()),
            Heard::Unsubscribed("devices/+/telemetry".into()),
        ]
    );
}
