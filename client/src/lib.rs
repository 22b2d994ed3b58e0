//! # kite-dashboard
//!
//! The Kite dashboard: a Leptos (CSR) app compiled to WebAssembly that speaks
//! MQTT (3.1.1 and 5.0) over WebSocket to the broker, through the same
//! `kite-mqtt` codec and client session as the broker and the devices.
//!
//! Pages (hash routes): devices (`#/devices`, `#/device/<kite|ha>/<id>`),
//! alarms, events, topics, publish (with subscriptions and the live message
//! list), broker (`$SYS`), connection (profiles in localStorage).
//!
//! # Layout
//! - [`state`]: plain Rust state (ring buffers, topic tree, device book,
//!   alarm rules and form, event log, `$SYS` stats, chart geometry, profiles,
//!   publish drafts and subscriptions, routes), no DOM; tested natively.
//! - [`mqtt`]: the transport: a sans-I/O [`mqtt::Driver`] (tested natively)
//!   and, on wasm32, the `WebSocket` glue with keepalive and reconnect.
//! - [`store`]: the state as signals, and the actions components call;
//!   messages go into the models at once and reach the page once per
//!   animation frame.
//! - [`components`]: views only: they render signals and call [`store::Store`].
//! - [`app`]: the page, assembled.
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
