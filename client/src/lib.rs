//! # kite-dashboard
//!
//! The Kite dashboard: a Leptos (CSR) app compiled to WebAssembly that speaks
//! MQTT over WebSocket to the broker, through the same `kite-mqtt` codec and
//! client session as the broker and the devices.
//!
//! # Layout
//! - [`state`]: plain Rust state (message log, connection state, backoff,
//!   broker URL, clock), no DOM; tested natively.
//! - [`mqtt`]: the transport: a sans-I/O [`mqtt::Driver`] (tested natively)
//!   and, on wasm32, the `WebSocket` glue with keepalive and reconnect.
//! - [`store`]: the state as signals, and the actions components call.
//! - [`components`]: views only: they render signals and call [`store::Store`].
//! - [`app`]: the page, assembled.
//!
//! `cargo test -p kite-dashboard` runs natively; the browser build is
//! `trunk build` from the repository root (see `Trunk.toml`).

pub mod app;
pub mod components;
pub mod mqtt;
mod platform;
pub mod state;
pub mod store;

pub use app::App;
