"""Hostile input. In every case the broker survives and every other
client's traffic goes on untouched:

- each "MUST close the Network Connection" case of MQTT 3.1.1 and 5.0 that
  a raw socket can produce (the normative statement is in the case id);
- a remaining length that promises more than ever arrives;
- a slow-loris client, on the MQTT port and on the HTTP port;
- 5,000 connections that open and never send CONNECT;
- a subscriber that stops reading while a publisher floods it, and is
  closed after `--write-timeout`.
"""

import resource
import select
import socket
import struct
import threading
import time

import pytest

from conftest import Broker
from mqtt_helpers import Client
from raw_mqtt import (closed_by_peer, connect, connect_v5, metric, open_session, packet, props,
                      publish, read_packet, s, subscribe, unsubscribe, vm_rss_kib)


@pytest.fixture(scope="module")
def hostile():
    b = Broker("kite-server-hostile", ["--max-packet-size", "65536", "--max-inflight", "4",
                                       "--connect-timeout", "2"])
    sub = Client(b.tcp_port, "bystander-sub")
    sub.subscribe("bystander/#", qos=1)
    pub = Client(b.tcp_port, "bystander-pub")
    b.bystanders = (sub, pub)
    b.sequence = 0
    yield b
    sub.close()
    pub.close()
    assert b.alive(), "the broker died:\n" + b.log()[-3000:]
    assert b.stop() == 0


def bystanders_fine(b):
    sub, pub = b.bystanders
    b.sequence += 1
    payload = f"still-{b.sequence}".encode()
    pub.publish("bystander/x", payload, qos=1)
    assert sub.expect().payload == payload
    assert b.alive()


V311 = connect("hostile-311")
V5 = connect_v5("hostile-5")
NO_PROPS = props()

# (id naming the normative statement, CONNECT to send first or None, the bad bytes)
CASES = [
    # Before or at CONNECT.
    ("MQTT-3.1.0-1 first packet PINGREQ", None, bytes([0xC0, 0])),
    ("MQTT-3.1.0-1 first packet PUBLISH", None, publish("a", b"x")),
    ("MQTT-3.1.0-1 first packet SUBSCRIBE", None, subscribe("a")),
    ("MQTT-2.2.2-2 CONNECT flags not zero", None, connect("f", first=0x11)),
    ("MQTT-3.1.2-3 CONNECT reserved flag", None, connect("r", flags=0x03)),
    ("MQTT-3.1.2-13 will QoS without will flag", None, connect("w", flags=0x0A)),
    ("MQTT-3.1.2-15 will retain without will flag", None, connect("w", flags=0x22)),
    ("MQTT-3.1.2-14 will QoS 3", None, connect("w", flags=0x1E, payload_extra=s("t") + s("m"))),
    ("MQTT-3.1.2-22 password without user name", None, connect("p", flags=0x42, payload_extra=s("pw"))),
    ("MQTT-3.1.2-1 protocol name wrong", None, connect("n", name=b"MQTX")),
    ("MQTT-3.1.2-2 protocol level 6 (CONNACK 0x01)", None, connect("l", level=6)),
    ("MQTT-3.1.3-8 empty client id without clean session (CONNACK 0x02)", None, connect("", flags=0)),
    ("MQTT-1.5.3-1 client id not UTF-8", None, connect(b"\xff\xfe")),
    ("MQTT-1.5.3-2 client id with U+0000", None, connect(b"a\x00b")),
    ("MQTT-1.5.3-1 will topic not UTF-8", None, connect("w", flags=0x06, payload_extra=s(b"\xc3\x28") + s("m"))),
    ("MQTT-2.2.3 remaining length of five bytes", None, bytes([0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])),
    ("MQTT-2.2 reserved packet type 0", None, bytes([0x00, 0])),
    ("MQTT-2.2 reserved packet type 15 before v5", None, bytes([0xF0, 0])),
    ("MQTT-3.1.4-1 CONNECT body cut short", None, packet(0x10, s("MQTT") + bytes([4]))),
    ("MQTT-3.1.4-1 CONNECT with trailing bytes", None, packet(0x10, s("MQTT") + bytes([4, 2, 0, 60]) + s("c") + b"zz")),
    # After a 3.1.1 CONNECT.
    ("MQTT-3.1.0-2 second CONNECT", V311, connect("again")),
    ("MQTT-3.3.1-4 PUBLISH QoS 3", V311, publish("a", b"x", first=0x36)),
    ("MQTT-3.3.2-2 PUBLISH topic with wildcard", V311, publish("a/+", b"x")),
    ("MQTT-4.7.3-1 PUBLISH empty topic (3.1.1)", V311, publish("", b"x")),
    ("MQTT-1.5.3-1 PUBLISH topic not UTF-8", V311, publish(b"\xed\xa0\x80", b"x")),
    ("MQTT-1.5.3-2 PUBLISH topic with U+0000", V311, publish(b"a\x00", b"x")),
    ("MQTT-2.3.1-1 PUBLISH QoS 1 packet id 0", V311, publish("a", b"x", qos=1, pid=0)),
    ("MQTT-3.6.1-1 PUBREL flags 0000", V311, bytes([0x60, 2, 0, 1])),
    ("MQTT-3.8.1-1 SUBSCRIBE flags 0000", V311, subscribe("a", first=0x80)),
    ("MQTT-3.8.3-3 SUBSCRIBE without filters", V311, packet(0x82, struct.pack(">H", 1))),
    ("MQTT-3-8.3-4 SUBSCRIBE requested QoS 3", V311, subscribe(("a", 3))),
    ("MQTT-3-8.3-4 SUBSCRIBE reserved option bits", V311, subscribe(("a", 0x40))),
    ("MQTT-4.7.1-2 SUBSCRIBE filter a/#/b", V311, subscribe("a/#/b")),
    ("MQTT-4.7.1-3 SUBSCRIBE filter a+", V311, subscribe("a+")),
    ("MQTT-2.3.1-1 SUBSCRIBE packet id 0", V311, subscribe("a", pid=0)),
    ("MQTT-3.10.1-1 UNSUBSCRIBE flags 0000", V311, unsubscribe("a", first=0xA0)),
    ("MQTT-3.10.3-2 UNSUBSCRIBE without filters", V311, packet(0xA2, struct.pack(">H", 1))),
    ("MQTT-3.12 PINGREQ with a body", V311, bytes([0xC0, 1, 0])),
    ("MQTT-3.14.1-1 DISCONNECT flags not zero", V311, bytes([0xE1, 0])),
    ("MQTT-4.8.0-1 client sends CONNACK", V311, bytes([0x20, 2, 0, 0])),
    ("MQTT-4.8.0-1 client sends SUBACK", V311, bytes([0x90, 3, 0, 1, 0])),
    ("MQTT-4.8.0-1 client sends UNSUBACK", V311, bytes([0xB0, 2, 0, 1])),
    ("MQTT-4.8.0-1 client sends PINGRESP", V311, bytes([0xD0, 0])),
    ("MQTT-4.8.0-1 AUTH before v5", V311, bytes([0xF0, 0])),
    ("MQTT-2.2.3 packet above the maximum packet size", V311, publish("a", b"x" * 70000)),
    # After a 5.0 CONNECT.
    ("MQTT-3.1.2-? v5 CONNECT duplicate property", None,
     connect_v5("d", properties=props(bytes([0x11, 0, 0, 0, 5]), bytes([0x11, 0, 0, 0, 6])))),
    ("MQTT-3.1.2-? v5 CONNECT Receive Maximum 0", None, connect_v5("r", properties=props(bytes([0x21, 0, 0])))),
    ("MQTT-3.1.2-? v5 CONNECT Maximum Packet Size 0", None, connect_v5("m", properties=props(bytes([0x27, 0, 0, 0, 0])))),
    ("MQTT-3.1.2-? v5 CONNECT Request Problem Information 2", None, connect_v5("q", properties=props(bytes([0x17, 2])))),
    ("MQTT-3.1.2-? v5 CONNECT property not allowed there (Topic Alias)", None, connect_v5("t", properties=props(bytes([0x23, 0, 1])))),
    ("MQTT-4.12.0-1 v5 CONNECT unsupported authentication method", None, connect_v5("a", properties=props(bytes([0x15]) + s("SCRAM")))),
    ("MQTT-3.3.2-8 v5 topic alias 0", V5, publish("a", b"x", v5=True, properties=props(bytes([0x23, 0, 0])))),
    ("MQTT-3.3.2-9 v5 topic alias above the maximum", V5, publish("a", b"x", v5=True, properties=props(bytes([0x23, 0xFF, 0xFF])))),
    ("MQTT-3.3.4-? v5 empty topic with an unknown alias", V5, publish("", b"x", v5=True, properties=props(bytes([0x23, 0, 3])))),
    ("MQTT-3.3.4-6 v5 PUBLISH with a subscription identifier", V5, publish("a", b"x", v5=True, properties=props(bytes([0x0B, 1])))),
    ("MQTT-3.3.4-7 v5 receive maximum exceeded", V5,
     b"".join(publish("a", b"x", qos=2, pid=i + 1, v5=True) for i in range(5))),
    ("MQTT-3.8.3-4 v5 shared subscription with No Local", V5, subscribe(("$share/g/a", 0x04), v5=True)),
    ("MQTT-3.8.3-5 v5 retain handling 3", V5, subscribe(("a", 0x30), v5=True)),
    ("MQTT-3.8.2-? v5 subscription identifier 0", V5, subscribe("a", v5=True, properties=props(bytes([0x0B, 0])))),
    ("MQTT-3.14.2-? v5 DISCONNECT sets a session expiry after 0", V5, packet(0xE0, bytes([0]) + props(bytes([0x11, 0, 0, 0, 9])))),
    ("MQTT-4.12.0-? v5 AUTH without an authentication method", V5, packet(0xF0, bytes([0x18]) + NO_PROPS)),
    ("MQTT-3.3.2-? v5 PUBLISH property not allowed there (Session Expiry)", V5, publish("a", b"x", v5=True, properties=props(bytes([0x11, 0, 0, 0, 1])))),
    ("MQTT-1.5.7-1 v5 user property not UTF-8", V5, publish("a", b"x", v5=True, properties=props(bytes([0x26]) + s(b"\xff") + s("v")))),
    ("MQTT-2.2.3 v5 packet above the maximum packet size", V5, publish("a", b"x" * 70000, v5=True)),
    ("MQTT-3.1.2-24 keep alive 1 s, then silence", connect("quiet", keepalive=1), b""),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_must_close(hostile, case):
    name, hello, bad = case
    sock = socket.create_connection(("127.0.0.1", hostile.tcp_port), timeout=5)
    try:
        if hello is not None:
            sock.sendall(hello)
            kind, _, body = read_packet(sock)
            assert kind == 2 and body[1] == 0, f"CONNECT refused: {body!r}"
        if bad:
            sock.sendall(bad)
        closed, seen = closed_by_peer(sock, timeout=5)
        assert closed, f"{name}: the broker kept the connection (sent {seen[:40]!r})"
        if seen:
            # Anything said before closing is a refusal or a DISCONNECT, never a success.
            first = seen[0] >> 4
            assert first in (2, 14) or (first in (4, 5, 9)), f"{name}: {seen[:40]!r}"
            if first == 2:
                assert seen[3] != 0, f"{name}: CONNACK accepted: {seen[:8]!r}"
            if first == 14 and len(seen) > 2:
                assert seen[2] >= 0x80, f"{name}: DISCONNECT reason {seen[2]:#x}"
    finally:
        sock.close()
    bystanders_fine(hostile)


def test_remaining_length_that_promises_more_than_arrives(hostile):
    # Before CONNECT: closed at the connect timeout (2 s).
    before = socket.create_connection(("127.0.0.1", hostile.tcp_port))
    before.sendall(bytes([0x10, 0xE8, 0x07]) + b"\x00\x04MQTT")  # promises 1000 bytes
    # After CONNECT: a PUBLISH promising 60,000 bytes, 10 sent; closed by keep alive.
    after = socket.create_connection(("127.0.0.1", hostile.tcp_port))
    after.sendall(connect("promise", keepalive=1))
    assert read_packet(after)[0] == 2
    after.sendall(bytes([0x30]) + bytes([0xE0, 0xD4, 0x03]) + b"\x00\x01t" + b"x" * 7)
    for _ in range(3):
        bystanders_fine(hostile)
    assert closed_by_peer(before, timeout=5)[0]
    assert closed_by_peer(after, timeout=5)[0]
    before.close()
    after.close()
    bystanders_fine(hostile)


def trickled(port, data, stop_after, each_byte=lambda: None):
    """Send `data` to `port` one byte every 0.25 s (calling `each_byte` after
    each) for at most `stop_after` s, then wait up to 3 s for the broker to
    close. Returns (closed, seconds since the first byte)."""
    sock = socket.create_connection(("127.0.0.1", port))
    start = time.monotonic()
    closed = False
    try:
        for byte in data:
            sock.sendall(bytes([byte]))
            each_byte()
            time.sleep(0.25)
            if time.monotonic() - start > stop_after:
                break
        closed, _ = closed_by_peer(sock, timeout=3)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    elapsed = time.monotonic() - start
    sock.close()
    return closed, elapsed


def test_slow_loris(hostile):
    """A CONNECT trickled one byte every 0.25 s never completes within the
    connect timeout; the connection is closed and nobody else notices."""
    closed, elapsed = trickled(hostile.tcp_port, connect("loris", keepalive=60), stop_after=2.5,
                               each_byte=lambda: bystanders_fine(hostile))
    assert closed
    assert elapsed < 6
    bystanders_fine(hostile)


def test_slow_loris_on_the_http_port(hostile):
    """An HTTP request head trickled one byte every 0.25 s is cut off at the
    connect timeout (2 s here); the dashboard port keeps serving others."""
    head = b"GET /metrics HTTP/1.1\r\nHost: kite\r\n" + b"X-Slow: " + b"z" * 64
    closed, elapsed = trickled(hostile.http_port, head, stop_after=4)
    assert closed, "the broker kept a trickling HTTP client"
    assert elapsed < 6
    assert metric(hostile.http_port, "kite_clients_connected") >= 2
    bystanders_fine(hostile)


def test_5000_connections_that_never_send_connect(request):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 5000 + 500
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want * 2, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want, "cannot raise RLIMIT_NOFILE"
    # The broker inherits the raised limit (and raises its own to the hard limit).
    b = Broker(f"kite-server-{request.node.name}", ["--connect-timeout", "6"])
    socks = []
    try:
        sub = Client(b.tcp_port, "sub")
        sub.subscribe("alive/#")
        pub = Client(b.tcp_port, "pub")
        rss_before = vm_rss_kib(b.proc.pid)
        start = time.monotonic()
        for batch in range(10):
            # 500 connects in flight at once (the listen backlog is 1024).
            pending = []
            for _ in range(500):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", b.tcp_port))
                pending.append(sock)
            poller = select.poll()
            waiting = {sock.fileno(): sock for sock in pending}
            for fd in waiting:
                poller.register(fd, select.POLLOUT)
            deadline = time.monotonic() + 10
            while waiting and time.monotonic() < deadline:
                for fd, _ in poller.poll(1000):
                    poller.unregister(fd)
                    sock = waiting.pop(fd)
                    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
            assert not waiting, f"{len(waiting)} connects did not complete"
            socks.extend(pending)
            pub.publish("alive/x", str(batch).encode(), qos=1)
            assert sub.expect().payload == str(batch).encode()
        opened = time.monotonic() - start
        deadline = time.monotonic() + 5
        while metric(b.http_port, "kite_connections_open") < 5002 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metric(b.http_port, "kite_connections_open") >= 5002
        rss_idle = vm_rss_kib(b.proc.pid)
        print(f"\n5,000 idle connections opened in {opened:.1f} s; broker VmRSS {rss_before} KiB "
              f"before, {rss_idle} KiB with them (+{(rss_idle - rss_before) / 5000:.1f} KiB each)")
        pub.publish("alive/y", b"during", qos=1)
        assert sub.expect().payload == b"during"
        # The connect timeout closes them all.
        deadline = time.monotonic() + 15
        while metric(b.http_port, "kite_connections_open") > 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert metric(b.http_port, "kite_connections_open") == 2
        assert metric(b.http_port, "kite_connect_timeouts_total") >= 5000
        pub.publish("alive/z", b"after", qos=1)
        assert sub.expect().payload == b"after"
        assert rss_idle - rss_before < 200 * 1024, "more than 40 KiB per idle connection"
        sub.close()
        pub.close()
    finally:
        for sock in socks:
            sock.close()
        assert b.alive()
        assert b.stop() == 0


def stalled_subscriber(b, topic_filter):
    """A subscriber to `topic_filter` with a 4 KiB receive buffer, which the
    test then never reads."""
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", b.tcp_port))
    stalled.sendall(connect("stalled"))
    assert read_packet(stalled)[0] == 2  # CONNACK
    stalled.sendall(subscribe((topic_filter, 0)))
    assert read_packet(stalled)[0] == 9  # SUBACK
    return stalled


def test_a_stalled_subscriber_does_not_slow_the_others(request):
    """One subscriber stops reading while a publisher floods: its queue hits
    its limit (drops counted), broker memory stays bounded, and a healthy
    subscriber gets every message."""
    b = Broker(f"kite-server-{request.node.name}",
               ["--max-queued-messages", "1000", "--max-queued-bytes", "262144"])
    try:
        stalled = stalled_subscriber(b, "flood/#")
        healthy = open_session(b.tcp_port, connect("healthy"))
        healthy.sendall(subscribe(("flood/#", 0)))
        assert read_packet(healthy)[0] == 9
        one = publish("flood/x", b"p" * 500)
        count = 20_000
        received = {"bytes": 0}

        def read_all():
            healthy.settimeout(10)
            try:
                while received["bytes"] < len(one) * count:
                    data = healthy.recv(1 << 20)
                    if not data:
                        return
                    received["bytes"] += len(data)
            except OSError:
                return

        reader = threading.Thread(target=read_all)
        reader.start()
        rss_before = vm_rss_kib(b.proc.pid)
        pub = open_session(b.tcp_port, connect("flooder"))
        start = time.monotonic()
        # 10,000 messages a second: well within what even a debug build
        # routes, so any loss for the healthy subscriber would be the stalled
        # one's fault.
        for _ in range(count // 100):
            pub.sendall(one * 100)
            time.sleep(0.01)
        reader.join(timeout=30)
        elapsed = time.monotonic() - start
        rss_after = vm_rss_kib(b.proc.pid)
        dropped = metric(b.http_port, "kite_messages_dropped_total")
        print(f"\nflood: {count} x {len(one)} B in {elapsed:.1f} s; healthy got "
              f"{received['bytes'] // len(one)}; dropped for the stalled one: {dropped:.0f}; "
              f"VmRSS {rss_before} -> {rss_after} KiB")
        assert received["bytes"] == len(one) * count, "the healthy subscriber lost messages"
        assert dropped > 0, "the stalled subscriber's queue never hit its limit"
        assert rss_after - rss_before < 64 * 1024, "broker memory grew by more than 64 MiB"
        for sock in (stalled, healthy, pub):
            sock.close()
    finally:
        assert b.alive()
        assert b.stop() == 0


def test_a_subscriber_that_takes_nothing_is_closed_after_the_write_timeout(request):
    """A subscriber whose socket takes no data for --write-timeout is closed
    (and counted); the publisher and the other subscribers go on."""
    b = Broker(f"kite-server-{request.node.name}", ["--write-timeout", "1"])
    try:
        stalled = stalled_subscriber(b, "flood/#")
        assert metric(b.http_port, "kite_clients_connected") == 1
        pub = Client(b.tcp_port, "flooder")
        watcher = Client(b.tcp_port, "watcher")
        watcher.subscribe("flood/done", qos=1)
        # 16 MiB: more than the socket buffers between the broker and a
        # reader that takes nothing, so the broker's write has to wait.
        chunk = b"x" * 16384
        start = time.monotonic()
        for _ in range(1024):
            pub.publish("flood/x", chunk, qos=0)
        deadline = time.monotonic() + 15
        while (metric(b.http_port, "kite_write_timeouts_total") < 1
               and time.monotonic() < deadline):
            time.sleep(0.2)
        waited = time.monotonic() - start
        print(f"\nthe stalled subscriber was closed {waited:.1f} s after the flood began")
        assert metric(b.http_port, "kite_write_timeouts_total") == 1
        closed, seen = closed_by_peer(stalled, timeout=10)
        assert closed, "the broker kept the stalled subscriber's connection open"
        assert len(seen) > 0
        pub.publish("flood/done", b"on", qos=1)
        assert watcher.expect().payload == b"on"
        assert metric(b.http_port, "kite_clients_connected") == 2
        pub.close()
        watcher.close()
    finally:
        assert b.alive()
        assert b.stop() == 0
