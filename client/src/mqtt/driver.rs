//! The sans-I/O heart of the transport: a [`ClientSession`] plus what the
//! dashboard does with it (renew its subscriptions after every CONNACK,
//! match SUBACKs to filters, report messages, give up on errors). The
//! socket glue only moves bytes and calls these methods; each returns a
//! [`Step`] saying what to send and report.

use std::collections::HashMap;

use bytes::Bytes;
use mqtt::client::{ClientError, ClientEvent, ClientOptions, ClientSession};
use mqtt::{Pid, Properties, ReasonCode, SubscribeFilter};

use super::TransportEvent;
use crate::state::publish::Outgoing;
use crate::state::ConnState;

/// The outcome of feeding the driver one thing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Bytes to send as one binary WebSocket frame.
    pub send: Option<Bytes>,
    /// For the application, in order.
    pub events: Vec<TransportEvent>,
    /// The MQTT session is over: close the socket (and reconnect later).
    pub close: bool,
}

impl Step {
    fn fail(&mut self, error: impl ToString) {
        self.events.push(TransportEvent::Error(error.to_string()));
        self.close = true;
    }
}

/// One dashboard's MQTT session across any number of sockets.
pub struct Driver {
    session: ClientSession,
    /// A socket is open and CONNECT was sent on it.
    open: bool,
    /// What to (re)subscribe to after each CONNACK.
    subscriptions: Vec<SubscribeFilter>,
    /// SUBSCRIBEs awaiting their SUBACK: packet id → filters.
    pending: HashMap<Pid, Vec<String>>,
}

impl Driver {
    pub fn new(options: ClientOptions, subscriptions: Vec<SubscribeFilter>) -> Driver {
        Driver {
            session: ClientSession::new(options),
            open: false,
            subscriptions,
            pending: HashMap::new(),
        }
    }

    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// Start over with other options (a new session: nothing in flight is
    /// kept). Takes effect on the next [`Driver::opened`].
    pub fn reconfigure(&mut self, options: ClientOptions) {
        self.session = ClientSession::new(options);
        self.open = false;
        self.pending.clear();
    }

    /// True from [`Driver::opened`] to [`Driver::closed`].
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// True when CONNACK was accepted on the open socket.
    pub fn is_connected(&self) -> bool {
        self.open && self.session.is_connected()
    }

    /// The filters subscribed to (or to be, once connected).
    pub fn subscriptions(&self) -> &[SubscribeFilter] {
        &self.subscriptions
    }

    /// A new socket opened: send CONNECT.
    pub fn opened(&mut self, now_ms: u64) -> Step {
        let mut step = Step::default();
        self.open = true;
        self.pending.clear();
        match self.session.connect(now_ms) {
            Ok(()) => step.send = self.session.take_outgoing(),
            Err(e) => step.fail(e),
        }
        step
    }

    /// The socket closed (either side): nothing more goes out until
    /// [`Driver::opened`].
    pub fn closed(&mut self) {
        self.open = false;
        self.pending.clear();
    }

    /// Bytes arrived: decode, react, reply.
    pub fn received(&mut self, bytes: &[u8], now_ms: u64) -> Step {
        let mut step = Step::default();
        if !self.open {
            return step;
        }
        match self.session.receive(bytes, now_ms) {
            Ok(events) => {
                for event in events {
                    self.handle(event, now_ms, &mut step);
                    if step.close {
                        break;
                    }
                }
            }
            Err(e) => step.fail(e),
        }
        // Replies (PUBACK, SUBSCRIBE, …) still go out before a close.
        step.send = self.session.take_outgoing();
        step
    }

    /// Call every second: keepalive pings, and failure when they go
    /// unanswered.
    pub fn tick(&mut self, now_ms: u64) -> Step {
        let mut step = Step::default();
        if !self.open {
            return step;
        }
        match self.session.tick(now_ms) {
            Ok(()) => step.send = self.session.take_outgoing(),
            Err(e) => step.fail(e),
        }
        step
    }

    /// Encode a PUBLISH; the bytes are to be sent at once. Returns the
    /// packet id of a QoS 1 or 2 publish, reported again on completion.
    pub fn publish(
        &mut self,
        out: &Outgoing,
        now_ms: u64,
    ) -> Result<(Option<Pid>, Option<Bytes>), ClientError> {
        if !self.open {
            return Err(ClientError::NotConnected);
        }
        let pid = self.session.publish_with(
            &out.topic,
            out.payload.clone(),
            out.qos,
            out.retain,
            out.properties.clone(),
            now_ms,
        )?;
        Ok((pid, self.session.take_outgoing()))
    }

    /// Add (or change) subscriptions: kept for every reconnect, and sent
    /// now when connected.
    pub fn subscribe(
        &mut self,
        filters: Vec<SubscribeFilter>,
        now_ms: u64,
    ) -> Result<Option<Bytes>, ClientError> {
        for filter in &filters {
            match self
                .subscriptions
                .iter_mut()
                .find(|f| f.filter == filter.filter)
            {
                Some(existing) => *existing = filter.clone(),
                None => self.subscriptions.push(filter.clone()),
            }
        }
        if !self.is_connected() || filters.is_empty() {
            return Ok(None);
        }
        self.send_subscribe(filters, now_ms)?;
        Ok(self.session.take_outgoing())
    }

    /// Drop subscriptions: forgotten for reconnects, and unsubscribed now
    /// when connected.
    pub fn unsubscribe(
        &mut self,
        filters: &[String],
        now_ms: u64,
    ) -> Result<Option<Bytes>, ClientError> {
        self.subscriptions
            .retain(|f| !filters.iter().any(|gone| *gone == *f.filter));
        if !self.is_connected() || filters.is_empty() {
            return Ok(None);
        }
        let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
        self.session.unsubscribe(&filters, now_ms)?;
        Ok(self.session.take_outgoing())
    }

    /// A normal DISCONNECT (the will is discarded); the socket is to be
    /// closed after sending it.
    pub fn disconnect(&mut self, now_ms: u64) -> Option<Bytes> {
        if !self.open {
            return None;
        }
        let _ = self.session.disconnect(now_ms);
        self.open = false;
        self.session.take_outgoing()
    }

    fn send_subscribe(
        &mut self,
        filters: Vec<SubscribeFilter>,
        now_ms: u64,
    ) -> Result<(), ClientError> {
        let names = filters.iter().map(|f| f.filter.to_string()).collect();
        let pid = self
            .session
            .subscribe_with(filters, Properties::default(), now_ms)?;
        self.pending.insert(pid, names);
        Ok(())
    }

    fn handle(&mut self, event: ClientEvent, now_ms: u64, step: &mut Step) {
        match event {
            ClientEvent::Connected {
                session_present, ..
            } => {
                step.events
                    .push(TransportEvent::State(ConnState::Connected));
                step.events.push(TransportEvent::Session {
                    session_present,
                    client_id: self.session.options().client_id.clone(),
                });
                // Renew every subscription: a new session has none, and a
                // resumed one gets the retained messages again.
                let filters = self.subscriptions.clone();
                if !filters.is_empty() {
                    if let Err(e) = self.send_subscribe(filters, now_ms) {
                        step.fail(e);
                    }
                }
            }
            ClientEvent::Message(publish) => {
                step.events.push(TransportEvent::Message(Box::new(publish)))
            }
            ClientEvent::Subscribed { pid, reasons } => {
                let filters = self.pending.remove(&pid).unwrap_or_default();
                let results = reasons
                    .iter()
                    .map(|&reason| match reason {
                        ReasonCode::Success => Ok(0),
                        ReasonCode::GrantedQoS1 => Ok(1),
                        ReasonCode::GrantedQoS2 => Ok(2),
                        other => Err(format!("{other:?}")),
                    })
                    .collect::<Vec<_>>();
                for (filter, result) in filters.iter().zip(&results) {
                    if let Err(reason) = result {
                        step.events.push(TransportEvent::Error(format!(
                            "the broker refused the subscription to {filter}: {reason}"
                        )));
                    }
                }
                step.events
                    .push(TransportEvent::Subscribed { filters, results });
            }
            ClientEvent::Published { pid, reason } => {
                step.events.push(TransportEvent::Published {
                    pid: pid.get(),
                    result: if reason.is_success() {
                        Ok(())
                    } else {
                        Err(format!("{reason:?}"))
                    },
                });
            }
            ClientEvent::Disconnected { reason } => {
                step.fail(format!("the broker ended the session: {reason:?}"));
            }
            ClientEvent::Unsubscribed { .. } | ClientEvent::PingResponse => {}
        }
    }
}

#[cfg(test)]
mod tests;
