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
//!   publish drafts and subscriptions, routes), no DOM; tested natively. The
//!   names it shares with the broker and the devices (topics, the rule JSON,
//!   `$SYS` statistics) come from `kite_convention`.
//! - `platform`: the browser (localStorage, clock, location, animation
//!   frames), with native stand-ins.
//! - [`mqtt`]: the transport: a sans-I/O [`mqtt::Driver`] (tested natively)
//!   and, on wasm32, the `WebSocket` glue with keepalive and reconnect. It
//!   reports [`mqtt::TransportEvent`]s and knows no signals and no views.
//! - [`store`]: the state as signals, and the actions components call, in
//!   three parts: [`store::ConnectionStore`] (the link: state, errors,
//!   profiles, subscriptions, what goes out), [`store::DataStore`] (the
//!   models the messages feed; they reach the page once per animation
//!   frame) and [`store::UiStore`] (page, theme, per-page UI state), held
//!   together by [`store::Store`].
//! - [`components`]: views only: they render signals and call [`store::Store`].
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
