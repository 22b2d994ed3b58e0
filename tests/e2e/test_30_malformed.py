"""Bad input closes only the offending connection; everyone else carries on."""

import os
import socket
import time
import urllib.error
import urllib.request

from mqtt_helpers import Client


def closed_by_peer(s: socket.socket, timeout: float = 5.0) -> bool:
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(1024)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_random_bytes_close_only_that_connection(broker):
    sub = Client(broker.tcp_port, "bystander-sub")
    sub.subscribe("still/#")
    pub = Client(broker.tcp_port, "bystander-pub")
    garbage = os.urandom(64)
    if garbage[0] == 0x10:
        # The start of a CONNECT: the broker would wait for the rest of it
        # (up to --connect-timeout) before it could call it malformed.
        garbage = b"\x00" + garbage[1:]
    with socket.create_connection(("127.0.0.1", broker.tcp_port)) as bad:
        bad.sendall(garbage + b"\xff\xff\xff\xff\xff")
        assert closed_by_peer(bad), "the broker kept a connection that sent garbage"
    pub.publish("still/alive", b"yes")
    assert sub.expect().payload == b"yes"
    assert "closed before CONNECT" in broker.log()


def test_packet_after_connect_that_is_malformed_closes_that_client(broker):
    sub = Client(broker.tcp_port, "bystander")
    sub.subscribe("t")
    with socket.create_connection(("127.0.0.1", broker.tcp_port)) as bad:
        bad.sendall(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 1]) + b"x")
        assert bad.recv(4) == bytes([0x20, 2, 0, 0])
        # PUBLISH QoS 3: reserved, malformed.
        bad.sendall(bytes([0x36, 5, 0, 1]) + b"t" + b"xy")
        assert closed_by_peer(bad)
    Client(broker.tcp_port, "pub").publish("t", b"ok")
    assert sub.expect().payload == b"ok"


def test_plain_http_to_mqtt_path_is_refused_and_logged(broker):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/mqtt", timeout=5)
        raise AssertionError("a plain GET /mqtt must not succeed")
    except urllib.error.HTTPError as err:
        assert 400 <= err.code < 500
    time.sleep(0.2)
    assert "not a WebSocket upgrade" in broker.log()
    # The broker still serves MQTT.
    c = Client(broker.tcp_port, "after-http")
    c.subscribe("x")
    c.publish("x", b"1")
    assert c.expect().payload == b"1"


def test_connect_timeout_closes_a_silent_connection(request):
    from conftest import Broker
    b = Broker(f"kite-server-{request.node.name}", ["--connect-timeout", "1"])
    try:
        with socket.create_connection(("127.0.0.1", b.tcp_port)) as silent:
            assert closed_by_peer(silent, timeout=5)
        assert "no CONNECT within" in b.log()
    finally:
        assert b.stop() == 0


def test_unsupported_protocol_level_gets_connack_0x01_then_close(broker):
    with socket.create_connection(("127.0.0.1", broker.tcp_port)) as s:
        # CONNECT: "MQTT", level 6 (does not exist), clean session, keepalive 60, id "v6"
        s.sendall(bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([6, 0x02, 0, 60, 0, 2]) + b"v6")
        assert s.recv(4) == bytes([0x20, 2, 0, 0x01])  # CONNACK: unacceptable protocol version
        assert closed_by_peer(s)


def test_malformed_packet_from_a_v5_client_gets_disconnect_0x81(broker):
    with socket.create_connection(("127.0.0.1", broker.tcp_port)) as s:
        # CONNECT v5: "MQTT", level 5, clean start, keepalive 60, no properties, id "m5"
        s.sendall(bytes([0x10, 15, 0, 4]) + b"MQTT" + bytes([5, 0x02, 0, 60, 0, 0, 2]) + b"m5")
        head = s.recv(2)
        assert head[0] == 0x20
        s.recv(head[1])  # CONNACK properties
        # PUBLISH with a wildcard in the topic name: malformed.
        s.sendall(bytes([0x30, 6, 0, 3]) + b"a/#" + bytes([0]))
        reply = s.recv(3)
        assert reply[0] == 0xE0, reply  # DISCONNECT
        assert reply[2] == 0x90, reply  # reason: Topic Name invalid
        assert closed_by_peer(s)
