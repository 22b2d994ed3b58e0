//! # kite-mqtt: the one MQTT codec
//!
//! MQTT 3.1, 3.1.1 and 5.0 packets, decoded from and encoded into byte
//! buffers. Pure: no I/O, no async runtime, builds for native and wasm32. The
//! broker, the simulated devices, the benchmark and the browser dashboard all
//! use this crate, so both sides of every connection speak through one codec.
//!
//! # Layout
//! From the bottom up; each module imports only from those above it in this
//! list (the `# Layers` table below says exactly which).
//! - `protocol`: the vocabulary every layer shares: `Protocol`, `QoS`,
//!   `Pid`, `PacketType`, and the wire format's size limits.
//! - [`reason`]: every reason code.
//! - [`topic`]: topic name / filter validation, matching, `$share` parsing.
//! - [`error`]: `DecodeError` / `EncodeError`, each decode error mapped to the
//!   reason code a broker sends.
//! - `varint`: the remaining-length / variable byte integer.
//! - `wire`: strings, binary data and integers on the wire.
//! - [`properties`]: MQTT 5 properties and their wire form.
//! - [`types`]: the packet structs (`Connect`, `Publish`, …); re-exports
//!   `protocol`'s types.
//! - `packet`: one file per packet type, each with its decoder and encoder;
//!   `packet::mod` holds the fixed header, [`decode`] and [`encode`] (and
//!   [`encode_publish`], a PUBLISH from borrowed parts: [`PublishRef`]).
//! - [`client`]: the sans-I/O client session used by the devices, bench and
//!   dashboard.
//!
//! # Layers
//! Lowest first. A module imports only from layers above its own line, never
//! from its own or a lower one (`convention/tests/layers.rs` checks it):
//! 1. `protocol`: imports nothing from the crate.
//! 2. `reason`, `topic`: `reason` uses `QoS`; `topic` the field length limit.
//! 3. `error`: wraps `ReasonCode`, `TopicError`, `PacketType`, `Protocol`.
//! 4. `varint`: reads and writes the variable byte integer.
//! 5. `wire`: the fields, on top of `varint`.
//! 6. `properties`: read and written with `wire`, checked against `topic`.
//! 7. `types`: packet structs carry `Properties` and `ReasonCode`.
//! 8. `packet`: decodes and encodes `types` with everything below.
//! 9. `client`: drives `packet` and `types`.
//!
//! # Decoding
//! [`decode`] looks at a `BytesMut`: when a whole packet is there it is split
//! off and returned; when not, `Ok(None)` says "need more bytes" and nothing is
//! consumed or allocated. Topics and payloads share the input buffer.

pub mod client;
pub mod error;
mod packet;
pub mod properties;
mod protocol;
pub mod reason;
pub mod topic;
pub mod types;
mod varint;
mod wire;

pub use error::{DecodeError, EncodeError};
pub use packet::{decode, encode, encode_publish, encoded_len, encoded_publish_len, PublishRef};
pub use properties::Properties;
pub use protocol::MAX_REMAINING_LENGTH;
pub use reason::ReasonCode;
pub use types::*;

pub use bytes;
pub use bytestring::ByteString;
