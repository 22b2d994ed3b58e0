//! Closing after a DISCONNECT: the broker shuts its write side, then reads
//! and discards what the client still sends (for a bounded time, or until
//! the client closes) before it closes the socket. A socket closed with
//! unread data resets the connection, and a client that is still writing
//! then gets "connection reset" instead of the reason it was closed for.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use mqtt::{Packet, Protocol, ReasonCode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[tokio::test]
async fn a_client_pipelining_past_its_receive_maximum_reads_disconnect_0x93() {
    // Receive Maximum 2: the third unreleased QoS 2 PUBLISH is one too many.
    let broker = Broker::start_with(&["--max-inflight", "2"]).await;
    let stream = TcpStream::connect(broker.addr()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(&Connect::v5("pipeliner").bytes())
        .await
        .unwrap();
    // The client writes on without reading: 50 QoS 2 PUBLISHes at once,
    // then a PINGREQ every 10 ms for half a second, as a busy client would.
    let writing = tokio::spawn(async move {
        let mut burst = Vec::new();
        for pid in 1..=50u16 {
            burst.extend(publish(true, "t", &[7; 100], 2, pid, false, &[]));
        }
        writer.write_all(&burst).await?;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            writer.write_all(&PINGREQ).await?;
        }
        writer.shutdown().await
    });
    // Meanwhile it reads everything until the broker's end.
    let mut input = BytesMut::new();
    let end = within("the broker to close", async {
        loop {
            let mut chunk = [0u8; 4096];
            match reader.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => input.extend_from_slice(&chunk[..n]),
                Err(err) => return Err(err),
            }
        }
    })
    .await;
    let written = writing.await.unwrap();
    assert!(
        written.is_ok(),
        "the client's writes were reset before it finished: {written:?}"
    );
    assert!(end.is_ok(), "the client's read was reset: {end:?}");
    let mut packets = Vec::new();
    while let Some(packet) = mqtt::decode(&mut input, Protocol::V5, u32::MAX).unwrap() {
        packets.push(packet);
    }
    assert!(
        matches!(packets.first(), Some(Packet::ConnAck(_))),
        "{packets:?}"
    );
    let last = packets.last();
    assert!(
        matches!(last, Some(Packet::Disconnect(d)) if d.reason == ReasonCode::ReceiveMaximumExceeded),
        "the last packet is DISCONNECT 0x93: {last:?}"
    );
}
