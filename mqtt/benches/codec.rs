//! Codec throughput, in packets per second.
//!
//! Decoding reads a buffer holding `BATCH` back-to-back copies of the packet,
//! as a broker's read buffer does, so the figures include the fixed header,
//! splitting the packet off, all validation and dropping the packet. Encoding
//! appends `BATCH` copies to a buffer that is cleared (not freed) between
//! iterations.
//!
//! `cargo bench -p kite-mqtt` (or `make bench`); a shorter run:
//! `cargo bench -p kite-mqtt -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::num::NonZeroU16;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqtt::bytes::{Bytes, BytesMut};
use mqtt::{
    decode, encode, encoded_len, Packet, Properties, Protocol, Publish, QoS, Subscribe,
    SubscribeFilter, SubscriptionOptions,
};

/// Packets per iteration.
const BATCH: usize = 1000;

/// A PUBLISH of exactly `size` bytes on the wire (fixed header included).
fn publish(size: usize, qos: QoS, protocol: Protocol) -> Packet {
    let mut publish = Publish {
        dup: false,
        qos,
        retain: false,
        topic: "kite/devices/0042/telemetry".into(),
        pid: (qos != QoS::AtMostOnce).then(|| NonZeroU16::new(42).unwrap()),
        properties: Properties::default(),
        payload: Bytes::new(),
    };
    // The remaining length's own size depends on the payload: start a few
    // bytes short and grow one byte at a time.
    let empty = encoded_len(&Packet::Publish(publish.clone()), protocol);
    let mut payload = size.saturating_sub(empty + 4);
    loop {
        publish.payload = Bytes::from(vec![0x5A; payload]);
        let len = encoded_len(&Packet::Publish(publish.clone()), protocol);
        if len >= size {
            assert_eq!(len, size, "no payload length gives {size} bytes");
            return Packet::Publish(publish);
        }
        payload += 1;
    }
}

/// A SUBSCRIBE with 10 filters: plain, `+`, `#` and one shared.
fn subscribe_10() -> Packet {
    let filters = [
        "kite/devices/0001/telemetry",
        "kite/devices/+/telemetry",
        "kite/devices/+/status",
        "kite/devices/0042/#",
        "kite/commands/+/reply",
        "$share/workers/kite/jobs/+",
        "$SYS/broker/clients/connected",
        "kite/alerts/#",
        "sport/tennis/+/ranking",
        "a/b/c/d/e/f",
    ];
    Packet::Subscribe(Subscribe {
        pid: NonZeroU16::new(7).unwrap(),
        properties: Properties::default(),
        filters: filters
            .iter()
            .enumerate()
            .map(|(i, filter)| SubscribeFilter {
                filter: (*filter).into(),
                options: SubscriptionOptions {
                    qos: QoS::from_u8(i as u8 % 3).unwrap(),
                    ..SubscriptionOptions::default()
                },
            })
            .collect(),
    })
}

fn cases() -> Vec<(String, Protocol, Packet)> {
    let mut cases = Vec::new();
    for (protocol, level) in [(Protocol::V311, "v311"), (Protocol::V5, "v5")] {
        for size in [64, 1024] {
            for (qos, q) in [(QoS::AtMostOnce, 0), (QoS::AtLeastOnce, 1)] {
                let name = format!("publish_{}_qos{q}/{level}", size_name(size));
                cases.push((name, protocol, publish(size, qos, protocol)));
            }
        }
        cases.push((format!("subscribe_10/{level}"), protocol, subscribe_10()));
    }
    cases
}

fn size_name(size: usize) -> String {
    if size >= 1024 {
        format!("{}KiB", size / 1024)
    } else {
        format!("{size}B")
    }
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, protocol, packet) in cases() {
        let mut stream = BytesMut::new();
        for _ in 0..BATCH {
            encode(&packet, protocol, &mut stream).unwrap();
        }
        // Sanity: the stream decodes back to the packet.
        let mut check = stream.clone();
        assert_eq!(
            decode(&mut check, protocol, u32::MAX),
            Ok(Some(packet.clone()))
        );
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || stream.clone(),
                |buf| {
                    while let Some(packet) = decode(buf, protocol, u32::MAX).unwrap() {
                        black_box(packet);
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, protocol, packet) in cases() {
        let mut out = BytesMut::with_capacity(BATCH * encoded_len(&packet, protocol));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for _ in 0..BATCH {
                    encode(black_box(&packet), protocol, &mut out).unwrap();
                }
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
