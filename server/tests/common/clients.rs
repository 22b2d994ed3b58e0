//! rumqttc, an MQTT client this project did not write, in its 3.1.1 and
//! 5.0 flavours, each driven by a background task that forwards events.

use std::time::Duration;

use tokio::{
    sync::mpsc,
    task::JoinHandle,
    time::{timeout, Instant},
};

use super::{Broker, QUIET, WAIT};

/// Events of a rumqttc event loop polled by a background task. The task
/// stops at the first connection error (no automatic reconnect) and is
/// aborted on drop, which closes the socket without DISCONNECT.
pub struct Events<E> {
    rx: mpsc::UnboundedReceiver<Result<E, String>>,
    task: JoinHandle<()>,
}

impl<E: std::fmt::Debug> Events<E> {
    /// The next event or connection error; `None` once the loop ended.
    pub async fn next(&mut self) -> Option<Result<E, String>> {
        self.rx.recv().await
    }

    /// The first event for which `pick` returns `Some`; panics on timeout or error.
    pub async fn find<T>(&mut self, what: &str, mut pick: impl FnMut(&E) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => panic!("timed out waiting for {what}"),
                Ok(None) => panic!("event loop ended while waiting for {what}"),
                Ok(Some(Err(err))) => panic!("connection error while waiting for {what}: {err}"),
                Ok(Some(Ok(event))) => {
                    if let Some(found) = pick(&event) {
                        return found;
                    }
                }
            }
        }
    }

    /// Assert no event matching `pick` arrives within `QUIET`.
    pub async fn none<T: std::fmt::Debug>(&mut self, mut pick: impl FnMut(&E) -> Option<T>) {
        let deadline = Instant::now() + QUIET;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let Ok(event) = event {
                if let Some(found) = pick(&event) {
                    panic!("unexpected {found:?}");
                }
            }
        }
    }

    /// The first connection error (e.g. the broker closed the connection).
    pub async fn error(&mut self) -> String {
        self.find_err().await
    }

    async fn find_err(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Err(_) => panic!("timed out waiting for the connection to end"),
                Ok(None) => return "event loop ended".into(),
                Ok(Some(Err(err))) => return err,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

impl<E> Drop for Events<E> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A connected rumqttc 3.1.1 client.
pub struct V4 {
    pub client: rumqttc::AsyncClient,
    pub events: Events<rumqttc::Event>,
    pub connack: rumqttc::ConnAck,
}

impl V4 {
    pub async fn connect(broker: &Broker, id: &str) -> V4 {
        V4::connect_with(broker, id, |_| {}).await
    }

    pub async fn connect_with(
        broker: &Broker,
        id: &str,
        configure: impl FnOnce(&mut rumqttc::MqttOptions),
    ) -> V4 {
        V4::connect_on(broker.tcp, id, configure).await
    }

    /// To whatever broker listens on loopback `port` (another broker than
    /// Kite, e.g. a Mosquitto).
    pub async fn connect_on(
        port: u16,
        id: &str,
        configure: impl FnOnce(&mut rumqttc::MqttOptions),
    ) -> V4 {
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        configure(&mut options);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await.map_err(|e| e.to_string());
                let stop = event.is_err();
                if tx.send(event).is_err() || stop {
                    return;
                }
            }
        });
        let mut events = Events { rx, task };
        let connack = events
            .find("CONNACK", |e| match e {
                rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(c)) => Some(c.clone()),
                _ => None,
            })
            .await;
        V4 {
            client,
            events,
            connack,
        }
    }

    pub async fn subscribe(&mut self, filter: &str, qos: rumqttc::QoS) {
        self.client.subscribe(filter, qos).await.expect("subscribe");
        self.events
            .find("SUBACK", |e| match e {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(s)) => Some(s.clone()),
                _ => None,
            })
            .await;
    }

    pub async fn publish(&self, topic: &str, qos: rumqttc::QoS, retain: bool, payload: &[u8]) {
        self.client
            .publish(topic, qos, retain, payload.to_vec())
            .await
            .expect("publish");
    }

    pub async fn next_publish(&mut self) -> rumqttc::Publish {
        self.events.find("PUBLISH", v4_publish).await
    }

    /// Wait for the broker's PUBACK of one of our QoS 1 publishes.
    pub async fn puback(&mut self) {
        self.events
            .find("PUBACK", |e| {
                matches!(e, rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))).then_some(())
            })
            .await;
    }

    pub async fn no_publish(&mut self) {
        self.events.none(v4_publish).await;
    }

    /// Send DISCONNECT and wait until it is written.
    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("disconnect");
        self.events
            .find("outgoing DISCONNECT", |e| {
                matches!(e, rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)).then_some(())
            })
            .await;
        // The DISCONNECT is flushed once the event loop polls again.
        let _ = timeout(Duration::from_millis(200), self.events.rx.recv()).await;
    }
}

pub fn v4_publish(e: &rumqttc::Event) -> Option<rumqttc::Publish> {
    match e {
        rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => Some(p.clone()),
        _ => None,
    }
}

/// A connected rumqttc 5.0 client.
pub struct V5 {
    pub client: rumqttc::v5::AsyncClient,
    pub events: Events<rumqttc::v5::Event>,
    pub connack: rumqttc::v5::mqttbytes::v5::ConnAck,
}

impl V5 {
    pub async fn connect(broker: &Broker, id: &str) -> V5 {
        V5::connect_with(broker, id, |_| {}).await
    }

    pub async fn connect_with(
        broker: &Broker,
        id: &str,
        configure: impl FnOnce(&mut rumqttc::v5::MqttOptions),
    ) -> V5 {
        let mut options = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", broker.tcp);
        options.set_keep_alive(Duration::from_secs(30));
        configure(&mut options);
        let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let event = eventloop.poll().await.map_err(|e| e.to_string());
                let stop = event.is_err();
                if tx.send(event).is_err() || stop {
                    return;
                }
            }
        });
        let mut events = Events { rx, task };
        let connack = events
            .find("CONNACK", |e| match e {
                rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(c)) => {
                    Some(c.clone())
                }
                _ => None,
            })
            .await;
        V5 {
            client,
            events,
            connack,
        }
    }

    pub async fn subscribe(&mut self, filter: rumqttc::v5::mqttbytes::v5::Filter) {
        self.client
            .subscribe_many([filter])
            .await
            .expect("subscribe");
        self.events
            .find("SUBACK", |e| match e {
                rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::SubAck(s)) => {
                    Some(s.clone())
                }
                _ => None,
            })
            .await;
    }

    pub async fn next_publish(&mut self) -> rumqttc::v5::mqttbytes::v5::Publish {
        self.events.find("PUBLISH", v5_publish).await
    }

    pub async fn no_publish(&mut self) {
        self.events.none(v5_publish).await;
    }
}

pub fn v5_publish(e: &rumqttc::v5::Event) -> Option<rumqttc::v5::mqttbytes::v5::Publish> {
    match e {
        rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(p)) => {
            Some(p.clone())
        }
        _ => None,
    }
}

/// rumqttc's QoS for a number.
pub fn qos(n: u8) -> rumqttc::QoS {
    match n {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

/// rumqttc v5's QoS for a number.
pub fn qos5(n: u8) -> rumqttc::v5::mqttbytes::QoS {
    rumqttc::v5::mqttbytes::qos(n).expect("QoS 0..=2")
}
