//! Heap allocations made by `decode`, counted by a global allocator.
//!
//! The counter is per thread, so tests running in parallel (and the test
//! harness itself) do not disturb each other's counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mqtt::bytes::{Bytes, BytesMut};
use mqtt::{decode, encode, encoded_len, Packet, Properties, Protocol, Publish, QoS};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) this thread made while running `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (ALLOCATIONS.with(Cell::get) - before, result)
}

#[test]
fn the_counter_counts() {
    let (n, v) = allocations(|| vec![1u8; 100]);
    assert_eq!(n, 1);
    drop(v);
}

#[test]
fn huge_announced_length_allocates_nothing() {
    // PUBLISH announcing 268,435,455 bytes (256 MB), 10 bytes behind it.
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[
        0x30, // PUBLISH, QoS 0
        0xFF, 0xFF, 0xFF, 0x7F, // remaining length 268,435,455
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        b'p', b'a', b'y', b'l', b'o', // the first 5 bytes of the payload
    ]);
    let capacity = buf.capacity();
    for protocol in [Protocol::V31, Protocol::V311, Protocol::V5] {
        let (n, result) = allocations(|| decode(&mut buf, protocol, u32::MAX));
        assert_eq!(result, Ok(None), "{protocol:?}");
        assert_eq!(n, 0, "{protocol:?}: {n} allocations");
        assert_eq!(buf.len(), 15, "nothing consumed");
        assert_eq!(buf.capacity(), capacity, "nothing reserved");
    }
}

/// A QoS 0 PUBLISH of exactly 64 bytes on the wire at `protocol`.
fn publish_64(protocol: Protocol) -> Packet {
    let mut publish = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "kite/devices/0042/telemetry".into(),
        pid: None,
        properties: Properties::default(),
        payload: Bytes::new(),
    };
    let empty = encoded_len(&Packet::Publish(publish.clone()), protocol);
    publish.payload = Bytes::from(vec![b'x'; 64 - empty]);
    let packet = Packet::Publish(publish);
    assert_eq!(encoded_len(&packet, protocol), 64);
    packet
}

#[test]
fn decoding_a_publish_stream_allocates_nothing_per_packet() {
    const PACKETS: usize = 1000;
    for protocol in [Protocol::V311, Protocol::V5] {
        let packet = publish_64(protocol);
        let mut buf = BytesMut::with_capacity(64 * PACKETS);
        for _ in 0..PACKETS {
            encode(&packet, protocol, &mut buf).unwrap();
        }
        let base = buf.as_ptr() as usize;
        let end = base + buf.len();

        // The first decode may allocate once: `bytes` turns the buffer into a
        // shared one, which every later packet then points into.
        let (first, decoded) = allocations(|| decode(&mut buf, protocol, u32::MAX));
        assert_eq!(decoded, Ok(Some(packet.clone())));
        assert!(
            first <= 1,
            "{protocol:?}: first packet made {first} allocations"
        );

        let mut kept = Vec::with_capacity(PACKETS);
        let (n, ()) = allocations(|| {
            while let Some(decoded) = decode(&mut buf, protocol, u32::MAX).unwrap() {
                kept.push(decoded);
            }
        });
        assert_eq!(kept.len(), PACKETS - 1);
        assert_eq!(
            n,
            0,
            "{protocol:?}: {n} allocations for {} packets",
            PACKETS - 1
        );
        assert!(buf.is_empty());

        // Topic and payload are slices of the input buffer, not copies.
        for decoded in &kept {
            let Packet::Publish(publish) = decoded else {
                panic!("{decoded:?}");
            };
            assert_eq!(decoded, &packet);
            for ptr in [publish.topic.as_bytes().as_ptr(), publish.payload.as_ptr()] {
                let ptr = ptr as usize;
                assert!(base <= ptr && ptr < end, "{protocol:?}: a copy");
            }
        }
    }
}
