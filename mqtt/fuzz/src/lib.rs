//! Checks shared by the fuzz targets. Each target calls one function here with
//! libFuzzer's input; a panic is a finding.

use mqtt::bytes::BytesMut;
use mqtt::topic::{matches, parse_shared, validate_topic_filter, validate_topic_name};
use mqtt::{decode, encode, encoded_len, Packet, Protocol};

/// Largest packet the decode targets accept (libFuzzer's inputs are smaller).
const MAX_PACKET_SIZE: u32 = 1 << 20;

/// Decodes `data` as a stream of packets received on a `protocol` connection,
/// until it needs more bytes or fails; each packet must survive encode →
/// decode unchanged.
pub fn decode_stream(data: &[u8], protocol: Protocol) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        match decode(&mut buf, protocol, MAX_PACKET_SIZE) {
            Ok(Some(packet)) => {
                assert!(buf.len() < before, "a packet consumed nothing");
                round_trip(&packet, protocol);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return;
            }
            Err(err) => {
                // The mapping and the message must not panic either.
                let _ = err.reason_code();
                let _ = err.to_string();
                return;
            }
        }
    }
}

fn round_trip(packet: &Packet, protocol: Protocol) {
    let mut out = BytesMut::new();
    if let Err(err) = encode(packet, protocol, &mut out) {
        panic!("a decoded packet does not encode: {err}\n{packet:?}");
    }
    assert_eq!(out.len(), encoded_len(packet, protocol), "encoded_len");
    let bytes = out.clone().freeze();

    // Every proper prefix of a valid packet asks for more bytes.
    for cut in 0..bytes.len() {
        let mut prefix = BytesMut::from(&bytes[..cut]);
        assert_eq!(
            decode(&mut prefix, protocol, u32::MAX),
            Ok(None),
            "prefix of {cut} bytes of {bytes:x?}"
        );
    }

    let again = match decode(&mut out, protocol, u32::MAX) {
        Ok(Some(again)) => again,
        other => panic!("re-encoded packet {bytes:x?} decodes to {other:?}\n{packet:?}"),
    };
    assert!(out.is_empty(), "re-encoded packet left {} bytes", out.len());
    assert_eq!(&again, packet, "{bytes:x?}");

    // Encoding is deterministic.
    let mut second = BytesMut::new();
    encode(&again, protocol, &mut second).unwrap();
    assert_eq!(second.freeze(), bytes);
}

/// Topic validation, matching and `$share` parsing on arbitrary UTF-8: the
/// first line is used as a filter, the rest as a topic name (the whole input
/// is both when there is no newline).
pub fn topic(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (filter, topic) = text.split_once('\n').unwrap_or((text, text));
    for s in [filter, topic] {
        check_one(s);
    }
    let _ = matches(filter, topic);
    let _ = matches(topic, filter);

    let filter_ok = validate_topic_filter(filter).is_ok();
    let name_ok = validate_topic_name(topic).is_ok();
    if filter_ok && name_ok && parse_shared(filter).is_none() {
        let plain = !filter.contains(['+', '#']);
        if plain {
            // A filter without wildcards matches exactly its own text.
            assert_eq!(
                matches(filter, topic),
                filter == topic,
                "{filter:?} {topic:?}"
            );
        }
        if filter == "#" {
            assert_eq!(matches(filter, topic), !topic.starts_with('$'));
        }
    }
    if let Some(Ok(shared)) = parse_shared(filter) {
        let _ = matches(shared.filter, topic);
    }
}

fn check_one(s: &str) {
    let name = validate_topic_name(s);
    let filter = validate_topic_filter(s);
    let shared = parse_shared(s);
    if name.is_ok() {
        assert!(!s.is_empty() && !s.contains(['+', '#', '\0']), "{s:?}");
        // A valid name matches itself and, unless it is a `$` topic, `#`.
        assert!(matches(s, s), "{s:?}");
        assert_eq!(matches("#", s), !s.starts_with('$'), "{s:?}");
        if shared.is_none() {
            assert!(filter.is_ok(), "{s:?} is a name but not a filter");
        }
    }
    match shared {
        None => assert!(!s.starts_with("$share/")),
        Some(Ok(parts)) => {
            assert!(filter.is_ok(), "{s:?}");
            assert_eq!(format!("$share/{}/{}", parts.group, parts.filter), s);
            assert!(!parts.group.is_empty() && !parts.filter.is_empty());
            assert!(!parts.group.contains(['/', '+', '#']), "{s:?}");
        }
        Some(Err(err)) => {
            assert_eq!(filter, Err(err), "{s:?}");
        }
    }
    if filter.is_ok() {
        assert!(!s.is_empty() && !s.contains('\0'), "{s:?}");
    }
}
