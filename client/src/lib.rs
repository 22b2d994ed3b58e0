//! # kite-dashboard
//!
//! The Kite dashboard: a Leptos (CSR) app compiled to WebAssembly that speaks
//! MQTT (3.1.1 and 5.0) over WebSocket to the broker, through the same
//! `kite-mqtt` codec and client session as the broker and the devices.
//!
//! Pages (hash routes): devices (`#/devices`, `#/device/<kite|ha>/<id>`),
//! alarms, events, topics, publish (with subscriptions and the live message
//! list), broker (`$SYS`), cluster (the nodes under `$SYS/brokers/`),
//! bridges and users (the broker's `$CONTROL`
//! administration API), connection (profiles in localStorage). The
//! device cards, a device's charts and the events page open with the past
//! the broker's history holds (`$kite/history/query`), asked for again
//! after every reconnect, and the live messages continue it.
//!
//! # Layout
//! - [`state`]: plain Rust state (ring buffers and time series with a past
//!   from the broker's history, topic tree, device book and what the
//!   history says of each device (`state/devices/past.rs`), alarm rules and
//!   form, event log and the history's pages of events
//!   (`state/events/pages.rs`), the questions to the history and their
//!   answers ([`state::history`]), the requests to the administration API
//!   and the bridges and users pages' forms and lists
//!   ([`state::control`]), `$SYS` stats, chart geometry, profiles,
//!   publish drafts and subscriptions, routes), no DOM; tested natively.
//!   The names it shares with the broker and the devices (topics, the rule
//!   JSON, the history's query and answer, `$SYS` statistics) come from
//!   `kite_convention`.
//! - `platform`: the browser (localStorage, clock, location, animation
//!   frames), with native stand-ins.
//! - [`mqtt`]: the transport: a sans-I/O [`mqtt::Driver`] (tested natively)
//!   and, on wasm32, the `WebSocket` glue with keepalive and reconnect. It
//!   reports [`mqtt::TransportEvent`]s and knows no signals and no views.
//! - [`store`]: the state as signals, and the actions components call, in
//!   four parts: [`store::ConnectionStore`] (the link: state, errors,
//!   profiles, subscriptions, what goes out), [`store::DataStore`] (the
//!   models the messages feed; they reach the page once per animation
//!   frame), [`store::HistoryStore`] (the questions to the broker's history
//!   after each connect and from the pages; its answers, taken off the
//!   message stream by their reply topic, go into the data) and
//!   [`store::UiStore`] (page, theme, per-page UI state), held together by
//!   [`store::Store`].
//! - [`components`]: views only: they render signals and call [`store::Store`]
//!   (the devices page, a device's page in `components/device.rs`, alarms,
//!   events, topics, publish, broker, connection).
//! - [`app`]: the page, assembled.
//!
//! # Layers
//! Lowest first. A module imports only from layers above its own line, never
//! from its own or a lower one (`convention/tests/layers.rs` checks it):
//! 1. `state`: imports nothing from the crate.
//! 2. `platform`, `mqtt`: the browser and the transport; `mqtt` carries the
//!    plain types of `state` (an outgoing message, the connection state).
//! 3. `store`: signals over `state`, fed by `mqtt`, saved through `platform`.
//! 4. `components`: render `store`.
//! 5. `app`: mounts `components`.
//!
//! `cargo test -p kite-dashboard` runs natively; `tests/web.rs` runs the
//! components in headless Chromium (`wasm-bindgen-test`); the browser build is
//! `trunk build` from the repository root (see `Trunk.toml`).

pub mod app;
pub mod components;
pub mod mqtt;
mod platform;
pub mod state;
pub mod store;

pub use app::App;
