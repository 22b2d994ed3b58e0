//! Framing tests for `decode` / `encode`, and helpers for the byte-literal
//! tests of every packet file.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::types::{Ack, Packet, PacketType, Pid, Protocol, Publish, QoS};
use crate::{decode, encode, encoded_len};

/// Decodes `bytes`, which must hold exactly one packet.
pub(crate) fn decode_err(bytes: &[u8], protocol: Protocol) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, protocol, u32::MAX)?.expect("a whole packet");
    assert!(buf.is_empty(), "decode left {} bytes", buf.len());
    Ok(packet)
}

/// Encodes `packet`, checking `encoded_len` agrees.
pub(crate) fn encode_vec(packet: &Packet, protocol: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(packet, protocol, &mut out).expect("encode");
    assert_eq!(out.len(), encoded_len(packet, protocol), "encoded_len");
    out.to_vec()
}

/// `bytes` decodes to `packet` and `packet` encodes to `bytes`.
pub(crate) fn assert_codec(bytes: &[u8], protocol: Protocol, packet: Packet) {
    assert_eq!(decode_err(bytes, protocol).as_ref(), Ok(&packet), "decode");
    assert_eq!(encode_vec(&packet, protocol), bytes, "encode");
}

pub(crate) fn pid(value: u16) -> Pid {
    Pid::new(value).unwrap()
}

#[test]
fn pings() {
    for protocol in [Protocol::V31, Protocol::V311, Protocol::V5] {
        assert_codec(&[0xC0, 0x00], protocol, Packet::PingReq);
        assert_codec(&[0xD0, 0x00], protocol, Packet::PingResp);
    }
    let err = decode_err(&[0xC0, 0x01, 0x00], Protocol::V5);
    assert_eq!(err, Err(DecodeError::TrailingBytes));
}

#[test]
fn needs_more_bytes_consumes_nothing() {
    let whole = [0x40, 0x02, 0x00, 0x01]; // PUBACK of packet id 1
    for cut in 0..whole.len() {
        let mut buf = BytesMut::from(&whole[..cut]);
        assert_eq!(
            decode(&mut buf, Protocol::V311, u32::MAX),
            Ok(None),
            "{cut}"
        );
        assert_eq!(&buf[..], &whole[..cut]);
    }
}

#[test]
fn huge_announced_length_allocates_nothing() {
    // PUBLISH announcing 268,435,455 bytes, 10 bytes present.
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, b'a', 1, 2]);
    let capacity = buf.capacity();
    assert_eq!(decode(&mut buf, Protocol::V5, u32::MAX), Ok(None));
    assert_eq!(buf.capacity(), capacity);
    assert_eq!(buf.len(), 10);
}

#[test]
fn too_large_as_soon_as_header_is_readable() {
    // PUBLISH announcing 200 bytes (203 in all) against a 100-byte maximum.
    let mut buf = BytesMut::from(&[0x30, 0xC8, 0x01][..]);
    let err = decode(&mut buf, Protocol::V5, 100).unwrap_err();
    assert_eq!(
        err,
        DecodeError::PacketTooLarge {
            size: 203,
            max: 100
        }
    );
    assert_eq!(err.reason_code(), crate::ReasonCode::PacketTooLarge);
    // Exactly at the maximum is fine.
    let mut buf = BytesMut::from(&[0x40, 0x02, 0x00, 0x01][..]);
    assert!(decode(&mut buf, Protocol::V5, 4).unwrap().is_some());
}

#[test]
fn malformed_remaining_length() {
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF][..]);
    let err = decode(&mut buf, Protocol::V5, u32::MAX);
    assert_eq!(err, Err(DecodeError::MalformedRemainingLength));
}

#[test]
fn invalid_type_and_reserved_flags() {
    let cases: &[(&[u8], DecodeError)] = &[
        (&[0x00, 0x00], DecodeError::InvalidPacketType(0)),
        (
            &[0xC1, 0x00],
            DecodeError::ReservedFlags {
                packet_type: PacketType::PingReq,
                flags: 1,
            },
        ),
        (
            &[0x60, 0x02, 0x00, 0x01],
            DecodeError::ReservedFlags {
                packet_type: PacketType::PubRel,
                flags: 0,
            },
        ),
        (
            &[0x80, 0x02, 0x00, 0x01],
            DecodeError::ReservedFlags {
                packet_type: PacketType::Subscribe,
                flags: 0,
            },
        ),
        (
            &[0xA3, 0x02, 0x00, 0x01],
            DecodeError::ReservedFlags {
                packet_type: PacketType::Unsubscribe,
                flags: 3,
            },
        ),
        (
            &[0x42, 0x02, 0x00, 0x01],
            DecodeError::ReservedFlags {
                packet_type: PacketType::PubAck,
                flags: 2,
            },
        ),
    ];
    for (bytes, expected) in cases {
        // The first byte alone is enough to reject.
        let mut buf = BytesMut::from(&bytes[..1]);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).as_ref(),
            Err(expected)
        );
        assert_eq!(decode_err(bytes, Protocol::V5).as_ref(), Err(expected));
    }
}

#[test]
fn auth_only_in_v5() {
    let err = decode_err(&[0xF0, 0x00], Protocol::V311);
    assert_eq!(err, Err(DecodeError::V5OnlyPacket));
    let mut out = BytesMut::new();
    let auth = Packet::Auth(Default::default());
    assert!(encode(&auth, Protocol::V311, &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn back_to_back_packets_share_the_buffer() {
    let mut buf = BytesMut::from(
        &[
            0x30, 0x05, 0x00, 0x01, b't', b'h', b'i', // PUBLISH "t" payload "hi"
            0xC0, 0x00, // PINGREQ
            0x40, // start of a PUBACK
        ][..],
    );
    let start = buf.as_ptr();
    let Some(Packet::Publish(publish)) = decode(&mut buf, Protocol::V311, 1024).unwrap() else {
        panic!("expected PUBLISH");
    };
    assert_eq!(publish.payload, Bytes::from_static(b"hi"));
    // Zero-copy: the payload points into the read buffer.
    assert_eq!(publish.payload.as_ptr(), unsafe { start.add(5) });
    assert_eq!(
        decode(&mut buf, Protocol::V311, 1024),
        Ok(Some(Packet::PingReq))
    );
    assert_eq!(decode(&mut buf, Protocol::V311, 1024), Ok(None));
    assert_eq!(&buf[..], &[0x40]);
}

#[test]
fn encode_appends_and_len_matches() {
    let mut out = BytesMut::from(&b"xy"[..]);
    let packet = Packet::PubAck(Ack::new(pid(7)));
    encode(&packet, Protocol::V5, &mut out).unwrap();
    assert_eq!(&out[..], &[b'x', b'y', 0x40, 0x02, 0x00, 0x07]);
    assert_eq!(encoded_len(&packet, Protocol::V5), 4);
}

#[test]
fn encode_refuses_oversized_packets() {
    let publish = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        pid: None,
        properties: Default::default(),
        payload: Bytes::from(vec![0; crate::MAX_REMAINING_LENGTH]),
    };
    let packet = Packet::Publish(publish);
    assert_eq!(
        encoded_len(&packet, Protocol::V311),
        1 + 4 + crate::MAX_REMAINING_LENGTH + 3
    );
    let mut out = BytesMut::new();
    let err = encode(&packet, Protocol::V311, &mut out).unwrap_err();
    assert_eq!(
        err,
        crate::EncodeError::PacketTooLarge {
            size: crate::MAX_REMAINING_LENGTH + 3
        }
    );
    assert!(out.is_empty());
}
