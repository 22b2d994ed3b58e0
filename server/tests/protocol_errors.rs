//! Protocol errors after CONNECT close only the offending connection: a v5
//! client first gets DISCONNECT with the reason (0x81 malformed packet, 0x82
//! protocol error, 0x95 packet too large), a 3.1.1 client just a close.
//! Every test then checks that other clients are still served.

mod common;

use common::*;
use mqtt::{Packet, ReasonCode};

/// A subscriber and a publisher that stay connected through the test.
struct Bystanders {
    sub: Raw,
    publisher: Raw,
}

impl Bystanders {
    async fn new(broker: &Broker) -> Bystanders {
        let mut sub = Raw::v311(broker, "bystander-sub").await;
        sub.subscribe(1, "still/#", 1).await;
        let publisher = Raw::v5(broker, "bystander-pub").await;
        Bystanders { sub, publisher }
    }

    /// Both are still served: a QoS 1 message goes through.
    async fn still_served(&mut self, n: u16) {
        self.publisher
            .publish_acked("still/here", &n.to_be_bytes(), 1, n, false, &[])
            .await;
        let p = self.sub.publish().await;
        assert_eq!(&p.payload[..], n.to_be_bytes());
        self.sub.send(&puback(p.pid.unwrap().get())).await;
    }
}

/// Packets that are malformed for a v5 connection, each with what is wrong.
const MALFORMED_V5: &[(&str, &[u8])] = &[
    (
        "PUBLISH whose topic length runs past the packet",
        &[
            0x30, // PUBLISH, QoS 0
            0x02, // remaining length 2
            0x00, 0x0A, // topic length 10, but no bytes follow
        ],
    ),
    (
        "PUBLISH with QoS 3",
        &[
            0x36, // PUBLISH, QoS bits 11: invalid
            0x06, // remaining length 6
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // packet id 1
            0x00, // property length 0
        ],
    ),
    (
        "topic that is not valid UTF-8",
        &[
            0x30, // PUBLISH, QoS 0
            0x05, // remaining length 5
            0x00, 0x02, 0xC3, 0x28, // topic: 2 bytes, an invalid UTF-8 sequence
            0x00, // property length 0
        ],
    ),
    (
        "SUBSCRIBE with reserved flags 0000 instead of 0010",
        &[
            0x80, // SUBSCRIBE with wrong reserved flags
            0x07, // remaining length 7
            0x00, 0x01, // packet id 1
            0x00, // property length 0
            0x00, 0x01, b't', // filter "t"
            0x00, // options: QoS 0
        ],
    ),
    (
        "remaining length of five bytes",
        &[
            0x30, // PUBLISH, QoS 0
            0xFF, 0xFF, 0xFF, 0xFF, 0x01, // a variable byte integer may have at most 4 bytes
        ],
    ),
    (
        "unknown property identifier",
        &[
            0x30, // PUBLISH, QoS 0
            0x07, // remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x02, // property length 2
            0x7F, 0x00, // property 0x7F: no such property
            b'x', // payload
        ],
    ),
    (
        "reserved packet type 0",
        &[
            0x00, // packet type 0: reserved
            0x00, // remaining length 0
        ],
    ),
];

#[tokio::test]
async fn v5_malformed_packets_after_connect_get_disconnect_0x81() {
    let broker = Broker::start().await;
    let mut others = Bystanders::new(&broker).await;
    for (n, (what, bytes)) in MALFORMED_V5.iter().enumerate() {
        let mut c = Raw::v5(&broker, "malformed").await;
        c.send(bytes).await;
        assert_eq!(
            c.expect_disconnect().await,
            Some(ReasonCode::MalformedPacket),
            "{what}"
        );
        others.still_served(n as u16 + 1).await;
    }
}

#[tokio::test]
async fn v311_malformed_packets_after_connect_just_close_the_connection() {
    let broker = Broker::start().await;
    let mut others = Bystanders::new(&broker).await;
    let cases: &[(&str, &[u8])] = &[
        ("topic length past the packet", &[0x30, 0x02, 0x00, 0x0A]),
        // PUBLISH QoS 3, remaining 5, topic "t", packet id 1.
        ("QoS 3", &[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]),
        // SUBSCRIBE flags 0000, remaining 6, id 1, filter "t", QoS 0.
        (
            "SUBSCRIBE reserved flags",
            &[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x00],
        ),
        (
            "5-byte remaining length",
            &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ),
        // AUTH (type 15) does not exist before v5.
        ("AUTH in 3.1.1", &[0xF0, 0x00]),
    ];
    for (n, (what, bytes)) in cases.iter().enumerate() {
        let mut c = Raw::v311(&broker, "malformed").await;
        c.send(bytes).await;
        assert_eq!(c.expect_closed().await, [], "{what}: a close, nothing sent");
        others.still_served(n as u16 + 1).await;
    }
}

#[tokio::test]
async fn v5_protocol_errors_get_disconnect_0x82() {
    let broker = Broker::start().await;
    let mut others = Bystanders::new(&broker).await;
    let second_connect = Connect::v5("again").bytes();
    let cases: &[(&str, &[u8])] = &[
        ("a second CONNECT", &second_connect),
        // CONNACK, remaining 3: flags 0, reason 0, property length 0.
        ("CONNACK from a client", &[0x20, 0x03, 0x00, 0x00, 0x00]),
        // SUBACK, remaining 4: id 1, property length 0, reason 0.
        (
            "SUBACK from a client",
            &[0x90, 0x04, 0x00, 0x01, 0x00, 0x00],
        ),
        // PINGRESP, remaining 0.
        ("PINGRESP from a client", &[0xD0, 0x00]),
    ];
    for (n, (what, bytes)) in cases.iter().enumerate() {
        let mut c = Raw::v5(&broker, "again").await;
        c.send(bytes).await;
        assert_eq!(
            c.expect_disconnect().await,
            Some(ReasonCode::ProtocolError),
            "{what}"
        );
        others.still_served(n as u16 + 1).await;
    }
}

#[tokio::test]
async fn v311_second_connect_closes_the_connection() {
    let broker = Broker::start().await;
    let mut others = Bystanders::new(&broker).await;
    let mut c = Raw::v311(&broker, "again").await;
    c.send(&Connect::v311("again").bytes()).await;
    assert_eq!(c.expect_closed().await, []);
    others.still_served(1).await;
}

#[tokio::test]
async fn packet_above_max_packet_size_gets_disconnect_0x95_v5() {
    let broker = Broker::start_with(&["--max-packet-size", "1024"]).await;
    let mut others = Bystanders::new(&broker).await;
    let mut c = Raw::v5(&broker, "big").await;
    c.send(&publish(true, "big", &[0u8; 2000], 0, 0, false, &[]))
        .await;
    assert_eq!(
        c.expect_disconnect().await,
        Some(ReasonCode::PacketTooLarge)
    );
    let mut c = Raw::v311(&broker, "big311").await;
    c.send(&publish(false, "big", &[0u8; 2000], 0, 0, false, &[]))
        .await;
    assert_eq!(c.expect_closed().await, []);
    others.still_served(1).await;
}

#[tokio::test]
async fn packet_announcing_more_than_max_packet_size_is_refused_before_its_body() {
    let broker = Broker::start_with(&["--max-packet-size", "1024"]).await;
    let mut c = Raw::v5(&broker, "liar").await;
    c.send(&[
        0x30, // PUBLISH, QoS 0
        0x80, 0x80, 0x40, // remaining length 1,048,576; the body never comes
    ])
    .await;
    assert_eq!(
        c.expect_disconnect().await,
        Some(ReasonCode::PacketTooLarge)
    );
}

#[tokio::test]
async fn pubrel_for_an_unknown_packet_id_gets_pubcomp_0x92_and_the_connection_stays() {
    let broker = Broker::start().await;
    let mut c = Raw::v5(&broker, "lost").await;
    c.send(&pubrel(42)).await;
    match c.recv().await {
        Packet::PubComp(comp) => {
            assert_eq!(comp.pid.get(), 42);
            assert_eq!(comp.reason, ReasonCode::PacketIdentifierNotFound);
        }
        other => panic!("expected PUBCOMP, got {other:?}"),
    }
    c.send(&PINGREQ).await;
    assert_eq!(c.recv().await, Packet::PingResp);
}

#[tokio::test]
async fn garbage_before_connect_closes_without_a_reply() {
    let broker = Broker::start().await;
    let mut others = Bystanders::new(&broker).await;
    let mut c = Raw::open(&broker, mqtt::Protocol::V311).await;
    c.send(b"GET / HTTP/1.1\r\n\r\n").await;
    assert_eq!(c.expect_closed().await, []);
    others.still_served(1).await;
}
