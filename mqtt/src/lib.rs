//! # kite-mqtt: the one MQTT codec
//!
//! MQTT 3.1, 3.1.1 and 5.0 packets, decoded from and encoded into byte
//! buffers. Pure: no I/O, no async runtime, builds for native and wasm32. The
//! broker, the simulated devices, the benchmark and the browser dashboard all
//! use this crate, so both sides of every connection speak through one codec.
//!
//! # Layout
//! - [`types`]: the packet structs (`Connect`, `Publish`, …), `Protocol`, `QoS`, `Pid`.
//! - [`properties`]: MQTT 5 properties and their wire form.
//! - [`reason`]: every reason code.
//! - [`error`]: `DecodeError` / `EncodeError`, each decode error mapped to the reason code a broker sends.
//! - `varint`: the remaining-length / variable byte integer.
//! - `wire`: strings, binary data and integers on the wire.
//! - `packet`: one file per packet type, each with its decoder and encoder;
//!   `packet::mod` holds the fixed header, [`decode`] and [`encode`].
//! - [`topic`]: topic name / filter validation, matching, `$share` parsing.
//! - [`client`]: the sans-I/O client session used by the devices, bench and dashboard.
//!
//! # Decoding
//! [`decode`] looks at a `BytesMut`: when a whole packet is there it is split
//! off and returned; when not, `Ok(None)` says "need more bytes" and nothing is
//! consumed or allocated. Topics and payloads share the input buffer.

pub mod client;
pub mod error;
mod packet;
pub mod properties;
pub mod reason;
pub mod topic;
pub mod types;
mod varint;
mod wire;

pub use error::{DecodeError, EncodeError};
pub use packet::{decode, encode, encoded_len, MAX_REMAINING_LENGTH};
pub use properties::Properties;
pub use reason::ReasonCode;
pub use types::*;

pub use bytes;
pub use bytestring::ByteString;
