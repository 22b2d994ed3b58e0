//! A [`Connection`] for native builds: there is no WebSocket, so it never
//! connects. It lets the UI build, lint and be tested off the browser.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use mqtt::client::ClientError;
use mqtt::QoS;

use super::TransportEvent;
use crate::state::ConnState;

#[derive(Clone)]
pub struct Connection {
    url: Rc<RefCell<String>>,
    on_event: Rc<dyn Fn(TransportEvent)>,
}

impl Connection {
    pub fn new(_client_id: String, on_event: impl Fn(TransportEvent) + 'static) -> Connection {
        Connection {
            url: Rc::default(),
            on_event: Rc::new(on_event),
        }
    }

    pub fn connect(&self, url: &str) {
        *self.url.borrow_mut() = url.to_owned();
        (self.on_event)(TransportEvent::Error(
            "no WebSocket outside the browser".to_owned(),
        ));
        (self.on_event)(TransportEvent::State(ConnState::Disconnected));
    }

    pub fn publish(
        &self,
        _topic: &str,
        _payload: Bytes,
        _qos: QoS,
        _retain: bool,
    ) -> Result<(), ClientError> {
        Err(ClientError::NotConnected)
    }

    pub fn url(&self) -> String {
        self.url.borrow().clone()
    }
}
