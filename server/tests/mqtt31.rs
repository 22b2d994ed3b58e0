//! MQTT 3.1 (protocol name "MQIsdp", level 3): the first byte of the
//! CONNACK's variable header is reserved and must be 0, even when the
//! broker resumes the client's persistent session (3.1.1 calls that bit
//! "session present"; 3.1 clients may refuse a CONNACK that sets it).

mod common;

use common::*;
use mqtt::Protocol;

/// A 3.1 CONNECT for `client_id`, clean session or not.
fn connect_31(client_id: &str, clean: bool) -> Vec<u8> {
    let mut body = string("MQIsdp"); // protocol name
    body.push(3); // protocol level 3: MQTT 3.1
    body.push(if clean { 0x02 } else { 0x00 }); // connect flags: clean session
    body.extend(60u16.to_be_bytes()); // keep alive 60 s
    body.extend(string(client_id)); // client identifier
    packet(0x10, &body) // CONNECT
}

#[tokio::test]
async fn a_resumed_31_session_gets_a_connack_with_the_reserved_byte_0() {
    let broker = Broker::start().await;
    let mut first = Raw::open(&broker, Protocol::V31).await;
    first.send(&connect_31("old-client", false)).await;
    assert_eq!(
        first.recv_bytes().await,
        [
            0x20, 0x02, // CONNACK, remaining length 2
            0x00, // reserved
            0x00, // return code 0: accepted
        ]
    );
    assert_eq!(first.subscribe(1, "kept/#", 1).await, 1);
    first.send(&DISCONNECT).await;
    first.expect_closed().await;
    // The session is resumed (its subscription still delivers), and the
    // CONNACK still says nothing in its reserved byte.
    let mut again = Raw::open(&broker, Protocol::V31).await;
    again.send(&connect_31("old-client", false)).await;
    assert_eq!(
        again.recv_bytes().await,
        [
            0x20, 0x02, // CONNACK, remaining length 2
            0x00, // reserved: 0, although the session was resumed
            0x00, // return code 0: accepted
        ]
    );
    let mut publisher = Raw::v311(&broker, "publisher").await;
    publisher
        .publish_acked("kept/x", b"still subscribed", 1, 1, false, &[])
        .await;
    assert_eq!(&again.publish().await.payload[..], b"still subscribed");
}
