//! A pending will as the `kite_wills` bucket keeps it: everything a node
//! needs to publish a will it did not receive itself (the holder died),
//! and who holds it.
//!
//! The layout, big-endian:
//!
//! | bytes | field |
//! |-------|-------|
//! | 1     | version (1) |
//! | 2 + n | holding node id (length, UTF-8) |
//! | 8     | the holder's incarnation (a random number per run) |
//! | 8     | the holder's connection number (0: adopted from a dead node) |
//! | 4     | will delay, seconds, already bounded by the session expiry |
//! | 8     | when the connection ended, Unix ms (0: still connected) |
//! | rest  | the will as a message store record (`store::encode_retained`) |

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{
    protocol::message::Message,
    store::{decode_retained, encode_retained, RecordError},
};

const VERSION: u8 = 1;

/// Why a bucket value is not a pending will.
#[derive(thiserror::Error, Debug)]
pub(crate) enum WillRecordError {
    #[error("pending will record truncated")]
    Truncated,
    #[error("pending will record version {0} unknown")]
    Version(u8),
    #[error("pending will record: node id not UTF-8")]
    Node,
    #[error("pending will record: {0}")]
    Message(#[from] RecordError),
}

/// A will waiting in the bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingWill {
    pub node: String,
    pub incarnation: u64,
    pub connection: u64,
    /// Seconds between the end of the connection and the will.
    pub delay: u32,
    /// When the connection ended (Unix ms); 0 while it lasts.
    pub gone_ms: u64,
    /// The will message (its expiry counts from its publication).
    pub record: Bytes,
}

impl PendingWill {
    /// The will `message`, held by this node's `connection`.
    pub(crate) fn new(
        node: &str,
        incarnation: u64,
        connection: u64,
        delay: u32,
        message: &Message,
    ) -> PendingWill {
        let mut message = message.clone();
        message.expires_at = None;
        PendingWill {
            node: node.to_string(),
            incarnation,
            connection,
            delay,
            gone_ms: 0,
            record: encode_retained(&message).into(),
        }
    }

    /// When the will is due (Unix ms), once the connection ended.
    pub(crate) fn due_ms(&self) -> Option<u64> {
        (self.gone_ms != 0).then(|| self.gone_ms + u64::from(self.delay) * 1000)
    }

    /// The message to publish now: its Message Expiry Interval starts now.
    pub(crate) fn message(&self) -> Result<Message, WillRecordError> {
        let mut message = decode_retained(&self.record)?;
        message.expires_at = message
            .properties
            .message_expiry_interval
            .map(|secs| std::time::Instant::now() + std::time::Duration::from_secs(secs.into()));
        Ok(message)
    }

    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(31 + self.node.len() + self.record.len());
        out.put_u8(VERSION);
        out.put_u16(self.node.len() as u16);
        out.put_slice(self.node.as_bytes());
        out.put_u64(self.incarnation);
        out.put_u64(self.connection);
        out.put_u32(self.delay);
        out.put_u64(self.gone_ms);
        out.put_slice(&self.record);
        out.freeze()
    }

    pub(crate) fn decode(mut data: Bytes) -> Result<PendingWill, WillRecordError> {
        let need = |data: &Bytes, n: usize| {
            if data.remaining() < n {
                Err(WillRecordError::Truncated)
            } else {
                Ok(())
            }
        };
        need(&data, 3)?;
        let version = data.get_u8();
        if version != VERSION {
            return Err(WillRecordError::Version(version));
        }
        let len = usize::from(data.get_u16());
        need(&data, len + 28)?;
        let node =
            String::from_utf8(data.split_to(len).to_vec()).map_err(|_| WillRecordError::Node)?;
        Ok(PendingWill {
            node,
            incarnation: data.get_u64(),
            connection: data.get_u64(),
            delay: data.get_u32(),
            gone_ms: data.get_u64(),
            record: data,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn will() -> Message {
        Message {
            topic: "will/t".into(),
            payload: Bytes::from_static(b"gone"),
            qos: mqtt::QoS::AtLeastOnce,
            retain: true,
            properties: mqtt::Properties {
                message_expiry_interval: Some(60),
                ..Default::default()
            }
            .into(),
            origin: Arc::from("c1"),
            expires_at: Some(std::time::Instant::now()),
        }
    }

    #[test]
    fn a_pending_will_round_trips_and_its_expiry_starts_at_publication() {
        let mut pending = PendingWill::new("node-é", 7, 42, 30, &will());
        pending.gone_ms = 1_000;
        let back = PendingWill::decode(pending.encode()).expect("decodes");
        assert_eq!(back, pending);
        assert_eq!(back.due_ms(), Some(31_000));
        let message = back.message().expect("message");
        assert_eq!(&*message.topic, "will/t");
        assert_eq!(&message.payload[..], b"gone");
        assert_eq!(&*message.origin, "c1");
        assert!(message.retain);
        let left = message.remaining_secs(std::time::Instant::now());
        assert_eq!(left, Some(60), "expiry counted from publication");
    }

    #[test]
    fn a_connected_will_is_not_due_and_bad_records_are_refused() {
        let pending = PendingWill::new("a", 1, 1, 0, &will());
        assert_eq!(pending.due_ms(), None);
        let bytes = pending.encode();
        assert!(matches!(
            PendingWill::decode(bytes.slice(..10)),
            Err(WillRecordError::Truncated)
        ));
        let mut other = bytes.to_vec();
        other[0] = 9;
        assert!(matches!(
            PendingWill::decode(other.into()),
            Err(WillRecordError::Version(9))
        ));
    }
}
