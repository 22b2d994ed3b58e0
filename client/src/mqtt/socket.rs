//! The browser side of the transport: one `WebSocket` at a time with the
//! `mqtt` subprotocol, a 1 s `gloo-timers` tick for keepalive, and
//! reconnects with exponential backoff and jitter. All MQTT decisions are
//! the [`Driver`]'s.
//!
//! The `mqtt` subprotocol is asked for as the MQTT spec says, but a socket
//! that fails before opening makes the next attempt go without it (and the
//! one after with it again): some proxies in front of the broker, trunk's
//! dev-server proxy among them, do not echo the subprotocol, and browsers
//! then fail the handshake.
//!
//! The handlers are created once per [`Connection`] and attached to each new
//! socket; a socket given up on has them detached first, so a stale socket
//! never reports anything. Events for the application are collected while the
//! state is borrowed and delivered after, so the application may call back
//! into the connection.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use gloo_timers::callback::{Interval, Timeout};
use js_sys::{ArrayBuffer, Uint8Array};
use leptos::logging::warn;
use mqtt::client::{ClientError, ClientOptions};
use mqtt::SubscribeFilter;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use super::{Driver, Step, TransportEvent};
use crate::state::publish::Outgoing;
use crate::state::{Backoff, ConnState};

/// The WebSocket subprotocol MQTT uses (MQTT 3.1.1 §6, 5.0 §6).
const SUBPROTOCOL: &str = "mqtt";
const TICK_MS: u32 = 1_000;

/// A handle on the dashboard's MQTT connection. Clones share it.
#[derive(Clone)]
pub struct Connection {
    inner: Rc<RefCell<Inner>>,
}

impl Connection {
    /// Creates the connection, idle until [`Connection::connect`].
    /// `on_event` hears about state changes, messages and errors.
    pub fn new(
        options: ClientOptions,
        subscriptions: Vec<SubscribeFilter>,
        on_event: impl Fn(TransportEvent) + 'static,
    ) -> Connection {
        let inner = Rc::new_cyclic(|me: &Weak<RefCell<Inner>>| {
            RefCell::new(Inner {
                me: me.clone(),
                url: String::new(),
                driver: Driver::new(options, subscriptions),
                socket: None,
                handlers: Handlers::new(me),
                backoff: Backoff::default(),
                subprotocol: true,
                reconnect: None,
                _ticker: None,
                on_event: Rc::new(on_event),
            })
        });
        let weak = Rc::downgrade(&inner);
        let ticker = Interval::new(TICK_MS, move || run(&weak, Inner::tick));
        inner.borrow_mut()._ticker = Some(ticker);
        Connection { inner }
    }

    /// (Re)connect to `url` with `options` now, dropping any current
    /// connection and resetting the backoff.
    pub fn connect(&self, url: &str, options: ClientOptions) {
        let url = url.trim().to_owned();
        run(&Rc::downgrade(&self.inner), move |inner, events| {
            inner.driver.reconfigure(options);
            inner.connect(url, events)
        });
    }

    /// Leave: DISCONNECT (the will is not published), close, and stay
    /// disconnected until the next [`Connection::connect`].
    pub fn disconnect(&self) {
        run(&Rc::downgrade(&self.inner), |inner, events| {
            inner.reconnect = None;
            if let (Some(bytes), Some(socket)) = (inner.driver.disconnect(now_ms()), &inner.socket)
            {
                let _ = socket.send_with_u8_array(&bytes);
            }
            inner.drop_socket();
            events.push(TransportEvent::State(ConnState::Disconnected));
        });
    }

    /// Publish now; the packet id of a QoS 1 or 2 publish is reported
    /// again on completion. Fails unless connected.
    pub fn publish(&self, out: &Outgoing) -> Result<Option<u16>, ClientError> {
        let mut result = Err(ClientError::NotConnected);
        run(&Rc::downgrade(&self.inner), |inner, events| {
            result = inner.publish(out, events);
        });
        result
    }

    /// Subscribe now if connected, and after every reconnect.
    pub fn subscribe(&self, filters: Vec<SubscribeFilter>) {
        run(&Rc::downgrade(&self.inner), |inner, events| {
            let sent = inner.driver.subscribe(filters, now_ms());
            inner.sent(sent, events);
        });
    }

    /// Unsubscribe now if connected, and not again after reconnects.
    pub fn unsubscribe(&self, filters: &[String]) {
        run(&Rc::downgrade(&self.inner), |inner, events| {
            let sent = inner.driver.unsubscribe(filters, now_ms());
            inner.sent(sent, events);
        });
    }

    /// The URL connected (or being connected) to.
    pub fn url(&self) -> String {
        self.inner.borrow().url.clone()
    }
}

/// The socket event handlers; each holds only a weak reference.
struct Handlers {
    open: Closure<dyn FnMut(Event)>,
    message: Closure<dyn FnMut(MessageEvent)>,
    close: Closure<dyn FnMut(CloseEvent)>,
    error: Closure<dyn FnMut(Event)>,
}

impl Handlers {
    fn new(me: &Weak<RefCell<Inner>>) -> Handlers {
        let weak = me.clone();
        let open = Closure::new(move |_: Event| run(&weak, Inner::opened));
        let weak = me.clone();
        let message = Closure::new(move |event: MessageEvent| {
            run(&weak, |inner, events| inner.received(event.data(), events))
        });
        let weak = me.clone();
        let close = Closure::new(move |event: CloseEvent| {
            run(&weak, |inner, events| {
                let why = if inner.driver.is_open() {
                    format!("connection closed (code {})", event.code())
                } else {
                    format!("cannot reach {} (code {})", inner.url, event.code())
                };
                inner.lost(Some(why), events)
            })
        });
        let weak = me.clone();
        let error = Closure::new(move |_: Event| {
            run(&weak, |inner, events| {
                let why = if inner.driver.is_open() {
                    "connection lost".to_owned()
                } else {
                    format!("cannot reach {}", inner.url)
                };
                inner.lost(Some(why), events)
            })
        });
        Handlers {
            open,
            message,
            close,
            error,
        }
    }

    fn attach(&self, socket: &WebSocket) {
        socket.set_onopen(Some(self.open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(self.message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(self.close.as_ref().unchecked_ref()));
        socket.set_onerror(Some(self.error.as_ref().unchecked_ref()));
    }

    fn detach(socket: &WebSocket) {
        socket.set_onopen(None);
        socket.set_onmessage(None);
        socket.set_onclose(None);
        socket.set_onerror(None);
    }
}

struct Inner {
    me: Weak<RefCell<Inner>>,
    url: String,
    driver: Driver,
    socket: Option<WebSocket>,
    handlers: Handlers,
    backoff: Backoff,
    /// Ask for the `mqtt` subprotocol on the next socket.
    subprotocol: bool,
    /// The pending reconnect; dropping it cancels it. Once fired it stays
    /// here until replaced, so it is never dropped inside its own callback.
    reconnect: Option<Timeout>,
    _ticker: Option<Interval>,
    on_event: Rc<dyn Fn(TransportEvent)>,
}

/// Run `f` on the connection state, then deliver the events it collected
/// with the state no longer borrowed.
fn run(weak: &Weak<RefCell<Inner>>, f: impl FnOnce(&mut Inner, &mut Vec<TransportEvent>)) {
    let Some(cell) = weak.upgrade() else {
        return;
    };
    let mut events = Vec::new();
    let on_event = {
        let Ok(mut inner) = cell.try_borrow_mut() else {
            warn!("kite: MQTT connection re-entered; call dropped");
            return;
        };
        f(&mut inner, &mut events);
        inner.on_event.clone()
    };
    for event in events {
        on_event(event);
    }
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A readable message from a thrown JavaScript value.
fn describe(error: &JsValue) -> String {
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        String::from(error.message())
    } else if let Some(text) = error.as_string() {
        text
    } else {
        format!("{error:?}")
    }
}

impl Inner {
    fn connect(&mut self, url: String, events: &mut Vec<TransportEvent>) {
        self.url = url;
        self.reconnect = None;
        self.backoff.reset();
        self.subprotocol = true;
        self.drop_socket();
        self.open_socket(events);
    }

    fn open_socket(&mut self, events: &mut Vec<TransportEvent>) {
        events.push(TransportEvent::State(ConnState::Connecting));
        let socket = if self.subprotocol {
            WebSocket::new_with_str(&self.url, SUBPROTOCOL)
        } else {
            WebSocket::new(&self.url)
        };
        match socket {
            Ok(socket) => {
                socket.set_binary_type(BinaryType::Arraybuffer);
                self.handlers.attach(&socket);
                self.socket = Some(socket);
            }
            Err(error) => {
                // A malformed URL: retrying cannot help; wait for a new one.
                events.push(TransportEvent::Error(format!(
                    "cannot connect to {:?}: {}",
                    self.url,
                    describe(&error)
                )));
                events.push(TransportEvent::State(ConnState::Disconnected));
            }
        }
    }

    /// Forget the current socket without reporting anything.
    fn drop_socket(&mut self) {
        self.driver.closed();
        if let Some(socket) = self.socket.take() {
            Handlers::detach(&socket);
            // Closing a socket that is still connecting also fails it; either
            // way nothing more is heard from it.
            let _ = socket.close();
        }
    }

    /// The socket or the session failed: report (unless already reported),
    /// and try again after the backoff delay.
    fn lost(&mut self, why: Option<String>, events: &mut Vec<TransportEvent>) {
        if self.socket.is_none() {
            return;
        }
        if !self.driver.is_open() {
            // Never opened: perhaps a proxy that drops the subprotocol.
            self.subprotocol = !self.subprotocol;
        }
        self.drop_socket();
        let delay = self.backoff.next_jittered_ms(js_sys::Math::random());
        events.extend(why.map(|why| {
            TransportEvent::Error(format!("{why}; retrying in {} s", delay.div_ceil(1000)))
        }));
        events.push(TransportEvent::State(ConnState::Disconnected));
        events.push(TransportEvent::Retrying { delay_ms: delay });
        let weak = self.me.clone();
        self.reconnect = Some(Timeout::new(delay, move || {
            run(&weak, |inner, events| {
                if inner.socket.is_none() {
                    inner.open_socket(events);
                }
            })
        }));
    }

    fn opened(&mut self, events: &mut Vec<TransportEvent>) {
        let step = self.driver.opened(now_ms());
        self.apply(step, events);
    }

    fn received(&mut self, data: JsValue, events: &mut Vec<TransportEvent>) {
        let Ok(buffer) = data.dyn_into::<ArrayBuffer>() else {
            return self.lost(Some("the broker sent a text frame".to_owned()), events);
        };
        let bytes = Uint8Array::new(&buffer).to_vec();
        let step = self.driver.received(&bytes, now_ms());
        self.apply(step, events);
    }

    fn tick(&mut self, events: &mut Vec<TransportEvent>) {
        let step = self.driver.tick(now_ms());
        self.apply(step, events);
    }

    fn publish(
        &mut self,
        out: &Outgoing,
        events: &mut Vec<TransportEvent>,
    ) -> Result<Option<u16>, ClientError> {
        let (pid, bytes) = self.driver.publish(out, now_ms())?;
        let step = Step {
            send: bytes,
            ..Step::default()
        };
        self.apply(step, events);
        if self.driver.is_open() {
            Ok(pid.map(|p| p.get()))
        } else {
            Err(ClientError::NotConnected)
        }
    }

    /// Send what a subscribe or unsubscribe produced.
    fn sent(
        &mut self,
        sent: Result<Option<bytes::Bytes>, ClientError>,
        events: &mut Vec<TransportEvent>,
    ) {
        match sent {
            Ok(send) => self.apply(
                Step {
                    send,
                    ..Step::default()
                },
                events,
            ),
            Err(e) => events.push(TransportEvent::Error(e.to_string())),
        }
    }

    /// Send what the driver produced, pass its events on, close if it says so.
    fn apply(&mut self, step: Step, events: &mut Vec<TransportEvent>) {
        if let (Some(bytes), Some(socket)) = (&step.send, &self.socket) {
            if let Err(error) = socket.send_with_u8_array(bytes) {
                events.extend(step.events);
                return self.lost(Some(format!("cannot send: {}", describe(&error))), events);
            }
        }
        for event in step.events {
            if event == TransportEvent::State(ConnState::Connected) {
                self.backoff.reset();
            }
            events.push(event);
        }
        if step.close {
            // The driver already reported why.
            self.lost(None, events);
        }
    }
}
