//! A [`Connection`] for native builds: there is no WebSocket, so it never
//! connects. It lets the UI build, lint and be tested off the browser.

use std::cell::RefCell;
use std::rc::Rc;

use mqtt::client::{ClientError, ClientOptions};
use mqtt::SubscribeFilter;

use super::TransportEvent;
use crate::state::publish::Outgoing;
use crate::state::ConnState;

#[derive(Clone)]
pub struct Connection {
    url: Rc<RefCell<String>>,
    subscriptions: Rc<RefCell<Vec<SubscribeFilter>>>,
    on_event: Rc<dyn Fn(TransportEvent)>,
}

impl Connection {
    pub fn new(
        _options: ClientOptions,
        subscriptions: Vec<SubscribeFilter>,
        on_event: impl Fn(TransportEvent) + 'static,
    ) -> Connection {
        Connection {
            url: Rc::default(),
            subscriptions: Rc::new(RefCell::new(subscriptions)),
            on_event: Rc::new(on_event),
        }
    }

    pub fn connect(&self, url: &str, _options: ClientOptions) {
        *self.url.borrow_mut() = url.to_owned();
        (self.on_event)(TransportEvent::Error(
            "no WebSocket outside the browser".to_owned(),
        ));
        (self.on_event)(TransportEvent::State(ConnState::Disconnected));
    }

    pub fn disconnect(&self) {
        (self.on_event)(TransportEvent::State(ConnState::Disconnected));
    }

    pub fn publish(&self, _out: &Outgoing) -> Result<Option<u16>, ClientError> {
        Err(ClientError::NotConnected)
    }

    pub fn subscribe(&self, filters: Vec<SubscribeFilter>) {
        self.subscriptions.borrow_mut().extend(filters);
    }

    pub fn unsubscribe(&self, filters: &[String]) {
        self.subscriptions
            .borrow_mut()
            .retain(|f| !filters.iter().any(|gone| *gone == *f.filter));
    }

    pub fn url(&self) -> String {
        self.url.borrow().clone()
    }
}
