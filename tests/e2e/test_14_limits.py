"""Limits, each enforced and counted in /metrics: --max-connections,
--max-packet-size, --connect-timeout, --max-keepalive, --max-inflight,
--max-queued-messages, --max-queued-bytes, --max-publish-rate."""

import socket
import time

import paho.mqtt.client as paho

from conftest import Broker
from mqtt_helpers import Client
from raw_mqtt import (closed_by_peer, connect, connect_v5, metric, open_session,
                      open_session_retrying, props, publish,
                      read_packet, subscribe)


def test_max_connections(request):
    b = Broker(f"kite-server-{request.node.name}", ["--max-connections", "3"])
    try:
        held = [open_session_retrying(b.tcp_port, connect(f"held-{i}")) for i in range(3)]
        with socket.create_connection(("127.0.0.1", b.tcp_port)) as extra:
            assert closed_by_peer(extra, timeout=3)[0], "a 4th connection must be closed"
        assert metric(b.http_port, "kite_connections_refused_total") >= 1
        assert metric(b.http_port, "kite_connections_open") == 3
        held.pop().close()
        time.sleep(0.2)
        again = open_session(b.tcp_port, connect("again"))
        again.close()
        for s in held:
            s.close()
    finally:
        assert b.stop() == 0


def test_max_packet_size(request):
    b = Broker(f"kite-server-{request.node.name}", ["--max-packet-size", "1024"])
    try:
        sock = open_session(b.tcp_port, connect_v5("big"))
        sock.sendall(publish("t", b"x" * 2000, v5=True))
        kind, _, body = read_packet(sock)
        assert (kind, body[0]) == (14, 0x95), "DISCONNECT: packet too large"
        assert closed_by_peer(sock)[0]
        assert metric(b.http_port, "kite_packets_too_large_total") == 1
        small = open_session(b.tcp_port, connect_v5("small"))
        small.sendall(publish("t", b"x" * 900, v5=True) + bytes([0xC0, 0]))
        assert read_packet(small)[0] == 13, "PINGRESP: still connected"
        small.close()
    finally:
        assert b.stop() == 0


def test_connect_timeout_and_max_keepalive_are_counted(request):
    b = Broker(f"kite-server-{request.node.name}", ["--connect-timeout", "1", "--max-keepalive", "30"])
    try:
        with socket.create_connection(("127.0.0.1", b.tcp_port)) as silent:
            assert closed_by_peer(silent, timeout=4)[0]
        assert metric(b.http_port, "kite_connect_timeouts_total") == 1
        # v5 asking for 60 s gets Server Keep Alive 30 (property 0x13).
        sock = socket.create_connection(("127.0.0.1", b.tcp_port), timeout=5)
        sock.sendall(connect_v5("ka", keepalive=60))
        kind, _, body = read_packet(sock)
        assert kind == 2 and body[1] == 0
        assert bytes([0x13, 0, 30]) in body
        sock.close()
        # 3.1.1 asking for more is refused.
        sock = socket.create_connection(("127.0.0.1", b.tcp_port), timeout=5)
        sock.sendall(connect("ka311", keepalive=60))
        kind, _, body = read_packet(sock)
        assert kind == 2 and body[1] != 0
        sock.close()
        assert metric(b.http_port, "kite_keepalive_limited_total") == 2
    finally:
        assert b.stop() == 0


def test_max_inflight(request):
    b = Broker(f"kite-server-{request.node.name}", ["--max-inflight", "2"])
    try:
        sock = socket.create_connection(("127.0.0.1", b.tcp_port), timeout=5)
        sock.sendall(connect_v5("slow-acker"))
        kind, _, body = read_packet(sock)
        assert bytes([0x21, 0, 2]) in body, "CONNACK announces Receive Maximum 2"
        sock.sendall(subscribe(("inflight/#", 1), v5=True))
        assert read_packet(sock)[0] == 9
        pub = Client(b.tcp_port, "pub")
        for i in range(5):
            pub.publish(f"inflight/{i}", str(i).encode(), qos=1)
        got = []
        for _ in range(2):
            kind, flags, body = read_packet(sock)
            assert kind == 3
            got.append(body)
        sock.settimeout(0.5)
        try:
            extra = sock.recv(100)
            raise AssertionError(f"a third message before any PUBACK: {extra!r}")
        except socket.timeout:
            pass
        # PUBACK the first: exactly one more comes.
        pid = got[0][2 + int.from_bytes(got[0][:2], "big"):][:2]
        sock.sendall(bytes([0x40, 2]) + pid)
        assert read_packet(sock)[0] == 3
        assert metric(b.http_port, "kite_inflight_waits_total") >= 3
        sock.close()
        pub.close()
    finally:
        assert b.stop() == 0


def stalled_subscriber(port, client_id, topic):
    """A subscriber with a tiny receive buffer that then stops reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(connect(client_id))
    assert read_packet(sock)[0] == 2
    sock.sendall(subscribe((topic, 0)))
    assert read_packet(sock)[0] == 9
    return sock


def flood(port, topic, count, size):
    pub = socket.create_connection(("127.0.0.1", port))
    pub.sendall(connect("flooder"))
    assert read_packet(pub)[0] == 2
    data = publish(topic, b"x" * size)
    for _ in range(count // 500):
        pub.sendall(data * 500)
    pub.sendall(bytes([0xC0, 0]))
    read_packet(pub, timeout=30)  # PINGRESP: everything before it was read
    return pub


def test_max_queued_messages_and_bytes_drop_and_count(request):
    b = Broker(f"kite-server-{request.node.name}",
               ["--max-queued-messages", "100", "--max-queued-bytes", "1000000"])
    try:
        stalled = stalled_subscriber(b.tcp_port, "stalled", "flood/#")
        pub = flood(b.tcp_port, "flood/a", 20_000, 1000)  # 20 MB
        deadline = time.monotonic() + 10
        while metric(b.http_port, "kite_messages_dropped_total") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(b.http_port, "kite_messages_dropped_total") > 0
        assert "queue full (--max-queued-messages)" in b.log()
        stalled.close()
        pub.close()
    finally:
        assert b.stop() == 0
    b = Broker(f"kite-server-{request.node.name}-bytes",
               ["--max-queued-messages", "100000", "--max-queued-bytes", "50000"])
    try:
        stalled = stalled_subscriber(b.tcp_port, "stalled", "flood/#")
        pub = flood(b.tcp_port, "flood/a", 20_000, 1000)
        deadline = time.monotonic() + 10
        while metric(b.http_port, "kite_queued_bytes_dropped_total") == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(b.http_port, "kite_queued_bytes_dropped_total") > 0
        assert "queue full (--max-queued-bytes)" in b.log()
        stalled.close()
        pub.close()
    finally:
        assert b.stop() == 0


def test_max_publish_rate_v5(request):
    b = Broker(f"kite-server-{request.node.name}", ["--max-publish-rate", "5"])
    try:
        sock = open_session(b.tcp_port, connect_v5("fast"))
        # A burst of 10 QoS 1 publishes: 5 tokens, then PUBACK 0x97 (quota exceeded).
        sock.sendall(b"".join(publish("rate/t", b"x", qos=1, pid=i + 1, v5=True) for i in range(10)))
        codes = []
        for _ in range(10):
            kind, _, body = read_packet(sock)
            assert kind == 4
            codes.append(body[2] if len(body) > 2 else 0)
        # Accepted ones say 0x10: nobody subscribes to rate/t.
        assert codes.count(0x10) == 5 and codes.count(0x97) == 5, codes
        # A second later tokens are back.
        time.sleep(1.1)
        sock.sendall(publish("rate/t", b"x", qos=1, pid=99, v5=True))
        body = read_packet(sock)[2]
        assert len(body) > 2 and body[2] == 0x10, body  # accepted, nobody listens
        # QoS 0 over the rate: DISCONNECT 0x96 (message rate too high).
        sock.sendall(b"".join(publish("rate/t", b"x", v5=True) for _ in range(20)))
        kind, _, body = read_packet(sock)
        assert (kind, body[0]) == (14, 0x96)
        assert closed_by_peer(sock)[0]
        assert metric(b.http_port, "kite_publishes_rate_limited_total") >= 6
    finally:
        assert b.stop() == 0


def test_max_publish_rate_throttles_3_1_1(request):
    b = Broker(f"kite-server-{request.node.name}", ["--max-publish-rate", "10"])
    try:
        sub = Client(b.tcp_port, "sub")
        sub.subscribe("rate/#")
        sock = open_session(b.tcp_port, connect("slowed"))
        start = time.monotonic()
        sock.sendall(b"".join(publish("rate/x", str(i).encode()) for i in range(25)))
        got = [sub.expect(timeout=5).payload for _ in range(25)]
        elapsed = time.monotonic() - start
        assert got == [str(i).encode() for i in range(25)], "throttled, not dropped"
        assert 1.2 < elapsed < 4, elapsed  # 10 at once, then 10 per second
        assert metric(b.http_port, "kite_publishes_rate_limited_total") >= 1
        sock.close()
        sub.close()
    finally:
        assert b.stop() == 0
