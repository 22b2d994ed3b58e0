"""Dormant connections (--dormant-after): a quiet MQTT-over-TCP connection
gives up its task and buffers, and its socket leaves tokio's reactor, yet it
behaves exactly as an active one: messages reach it, its packets are
answered, its keepalive, a takeover, a shutdown and its peer's close all
still end it as they should. kite_connections_dormant counts them."""

import socket
import time

from conftest import Broker
from mqtt_helpers import Client
from raw_mqtt import (closed_by_peer, connect, connect_v5, metric, open_session, packet,
                      props, publish, read_packet, s, subscribe)

PINGREQ = bytes([0xC0, 0x00])


def wait_for_metric(b, name, pred, within=5.0):
    deadline = time.monotonic() + within
    value = metric(b.http_port, name)
    while not pred(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} = {value}")
        time.sleep(0.02)
        value = metric(b.http_port, name)
    return value


def dormant(b, n):
    """Wait until at least n connections lie dormant."""
    return wait_for_metric(b, "kite_connections_dormant", lambda v: v >= n)


def test_quiet_subscribers_lie_dormant_and_every_message_reaches_them(broker):
    b = broker  # the fixture checks it stops cleanly
    socks = []
    for i in range(40):
        sock = open_session(b.tcp_port, connect(f"quiet-{i}"))
        sock.sendall(subscribe((f"dormant/{i}", 1)))
        kind, _, _ = read_packet(sock)
        assert kind == 9, "SUBACK"
        socks.append(sock)
    assert dormant(b, 40) == 40
    pub = Client(b.tcp_port, "waker")
    for round_ in range(2):
        for i in range(40):
            pub.publish(f"dormant/{i}", f"{round_}:{i}".encode(), qos=1)
        for i, sock in enumerate(socks):
            kind, flags, body = read_packet(sock)
            assert kind == 3 and (flags >> 1) & 3 == 1, "a QoS 1 PUBLISH"
            topic_len = int.from_bytes(body[:2], "big")
            assert body[2:2 + topic_len] == f"dormant/{i}".encode()
            pid = body[2 + topic_len:4 + topic_len]
            assert body[4 + topic_len:] == f"{round_}:{i}".encode()
            sock.sendall(packet(0x40, pid))  # PUBACK
        # Delivered and acknowledged: they lie down again.
        assert dormant(b, 40) >= 40
    pub.close()
    for sock in socks:
        sock.close()
    wait_for_metric(b, "kite_connections_dormant", lambda v: v == 0)


def test_a_dormant_connection_answers_pings_and_takes_publishes(broker):
    b = broker  # the fixture checks it stops cleanly
    sock = open_session(b.tcp_port, connect("sleeper"))
    dormant(b, 1)
    sock.sendall(PINGREQ)
    assert read_packet(sock, timeout=2)[0] == 13, "PINGRESP"
    dormant(b, 1)
    sock.sendall(publish("from/sleeper", b"hi", qos=1, pid=7))
    kind, _, body = read_packet(sock, timeout=2)
    assert (kind, body[:2]) == (4, b"\x00\x07"), "PUBACK for id 7"
    # Half a packet, then quiet: the part is kept while it sleeps.
    whole = publish("from/sleeper", b"in two parts", qos=1, pid=8)
    sock.sendall(whole[:5])
    dormant(b, 1)
    sock.sendall(whole[5:])
    kind, _, body = read_packet(sock, timeout=2)
    assert (kind, body[:2]) == (4, b"\x00\x08")
    sock.close()


def test_keepalive_still_ends_a_dormant_connection(broker):
    b = broker  # the fixture checks it stops cleanly
    start = time.monotonic()
    sock = open_session(b.tcp_port, connect_v5("silent", keepalive=1))
    dormant(b, 1)
    closed, seen = closed_by_peer(sock, timeout=5)
    waited = time.monotonic() - start
    assert closed, "closed after 1.5 x keepalive"
    # 1.5 s, rung by a 250 ms sweep.
    assert 1.4 <= waited <= 3.0, waited
    assert seen[:1] == b"\xe0" and seen[2] == 0x8D, f"DISCONNECT 0x8D: {seen!r}"


def test_a_dormant_connection_is_taken_over_and_told_why(broker):
    b = broker  # the fixture checks it stops cleanly
    first = open_session(b.tcp_port, connect_v5("twin"))
    dormant(b, 1)
    second = open_session(b.tcp_port, connect_v5("twin"))
    closed, seen = closed_by_peer(first, timeout=5)
    assert closed and seen[:1] == b"\xe0" and seen[2] == 0x8E, f"0x8E: {seen!r}"
    second.sendall(PINGREQ)
    assert read_packet(second)[0] == 13
    second.close()


def test_shutdown_reaches_dormant_v5_clients(request):
    b = Broker(f"kite-server-{request.node.name}")
    socks = [open_session(b.tcp_port, connect_v5(f"down-{i}")) for i in range(5)]
    dormant(b, 5)
    assert b.stop() == 0
    for sock in socks:
        closed, seen = closed_by_peer(sock, timeout=5)
        assert closed and seen[:1] == b"\xe0" and seen[2] == 0x8B, f"0x8B: {seen!r}"


def test_the_will_of_a_dormant_connection_whose_peer_vanishes_is_published(broker):
    b = broker  # the fixture checks it stops cleanly
    watcher = Client(b.tcp_port, "watcher")
    watcher.subscribe("wills/#")
    will = s("wills/sleeper") + s(b"gone")
    sock = open_session(b.tcp_port, connect("sleeper", flags=0x06, payload_extra=will))
    dormant(b, 2)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # RST, no DISCONNECT
    msg = watcher.expect(timeout=5)
    assert (msg.topic, msg.payload) == ("wills/sleeper", b"gone")
    watcher.close()


def test_dormant_after_0_keeps_a_task_per_connection(request):
    b = Broker(f"kite-server-{request.node.name}", ["--dormant-after", "0"])
    try:
        sock = open_session(b.tcp_port, connect("awake", keepalive=0))
        time.sleep(0.3)
        assert metric(b.http_port, "kite_connections_dormant") == 0
        sock.sendall(PINGREQ)
        assert read_packet(sock)[0] == 13
        sock.close()
    finally:
        assert b.stop() == 0


def test_a_v5_dormant_subscriber_gets_its_properties_and_aliases(broker):
    """A v5 session's topic alias survives lying dormant (the in-flight state
    is let go only when empty, and aliases are not)."""
    b = broker  # the fixture checks it stops cleanly
    # Topic Alias Maximum 5 in CONNECT: the broker may set aliases towards us.
    sock = open_session(b.tcp_port, connect_v5("aliased", properties=props(b"\x22\x00\x05")))
    sock.sendall(subscribe(("alias/t", 0), v5=True))
    assert read_packet(sock)[0] == 9
    pub = Client(b.tcp_port, "alias-pub")
    for n in range(2):
        dormant(b, 1)
        pub.publish("alias/t", f"m{n}".encode())
        kind, _, body = read_packet(sock)
        assert kind == 3
        topic_len = int.from_bytes(body[:2], "big")
        # First: topic and alias 1; then: empty topic, alias 1.
        assert topic_len == (7 if n == 0 else 0), body
        assert b"\x23\x00\x01" in body[2 + topic_len:], body
    pub.close()
    sock.close()
