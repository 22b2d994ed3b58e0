//! `ClientOptions::bridge`: the CONNECT a bridge sends carries the protocol
//! level's 0x80 bit (Mosquitto's `try_private`) before v5, and never in v5.

use mqtt::{
    bytes::BytesMut,
    client::{ClientOptions, ClientSession},
    decode, Packet, Protocol,
};

/// The CONNECT `options` make, as bytes and decoded.
fn connect_sent(options: ClientOptions) -> (Vec<u8>, mqtt::Connect) {
    let protocol = options.protocol;
    let mut session = ClientSession::new(options);
    session.connect(0).expect("connect");
    let bytes = session.take_outgoing().expect("a CONNECT").to_vec();
    let mut buf = BytesMut::from(&bytes[..]);
    match decode(&mut buf, protocol, u32::MAX) {
        Ok(Some(Packet::Connect(connect))) => (bytes, *connect),
        other => panic!("not a CONNECT: {other:?}"),
    }
}

fn options(protocol: Protocol, bridge: bool) -> ClientOptions {
    let mut options = ClientOptions::new("bridge");
    options.protocol = protocol;
    options.bridge = bridge;
    options
}

#[test]
fn a_bridge_connects_with_the_private_bit_before_v5() {
    // Byte 8: the protocol level after the fixed header (2) and "MQTT" (6).
    let (bytes, connect) = connect_sent(options(Protocol::V311, true));
    assert_eq!(bytes[8], 0x84);
    assert!(connect.bridge);
    // "MQIsdp" is two bytes longer.
    let (bytes, connect) = connect_sent(options(Protocol::V31, true));
    assert_eq!(bytes[10], 0x83);
    assert!(connect.bridge);
}

#[test]
fn a_plain_client_and_a_v5_bridge_send_the_plain_level() {
    assert!(!ClientOptions::new("c").bridge, "off by default");
    let (bytes, connect) = connect_sent(options(Protocol::V311, false));
    assert_eq!((bytes[8], connect.bridge), (0x04, false));
    let (bytes, connect) = connect_sent(options(Protocol::V5, true));
    assert_eq!((bytes[8], connect.bridge), (0x05, false));
}
