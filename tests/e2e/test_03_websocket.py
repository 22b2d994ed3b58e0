"""MQTT over WebSocket at ws://HOST:HTTP/mqtt: both subprotocols, `mqtt`
(3.1.1 and 5.0) and `mqttv3.1` (3.1), are accepted; the handshake echoes the
one the client asked for; MQTT bytes then travel in binary frames."""

import base64
import http.client
import os
import queue
import socket
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import Broker
from mqtt_helpers import Client
from raw_mqtt import connect, metric, subscribe


def handshake(port: int, protocols: str) -> http.client.HTTPResponse:
    """A WebSocket upgrade request for /mqtt offering `protocols`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/mqtt", headers={
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Protocol": protocols,
    })
    response = conn.getresponse()
    conn.close()
    return response


@pytest.mark.parametrize("subprotocol", ["mqtt", "mqttv3.1"])
def test_handshake_echoes_the_requested_subprotocol(broker, subprotocol):
    response = handshake(broker.http_port, subprotocol)
    assert response.status == 101, response.status
    assert response.getheader("Sec-WebSocket-Protocol") == subprotocol


def test_handshake_picks_a_supported_subprotocol_from_a_list(broker):
    response = handshake(broker.http_port, "wamp, mqttv3.1")
    assert response.status == 101
    assert response.getheader("Sec-WebSocket-Protocol") == "mqttv3.1"


def client_frame(payload: bytes) -> bytes:
    """A masked binary frame, as a client must send it (RFC 6455 §5.2)."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x82, 0x80 | len(payload)]) + mask + masked  # FIN + binary, MASK + length


def read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed"
        data += chunk
    return data


def upgraded(port: int, subprotocol: str = "mqtt", rcvbuf: int | None = None) -> socket.socket:
    """A raw socket upgraded to WebSocket at /mqtt (the 101 response read)."""
    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
    ).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


@pytest.mark.parametrize("subprotocol", ["mqtt", "mqttv3.1"])
def test_connect_in_a_binary_frame_gets_connack_in_a_binary_frame(broker, subprotocol):
    sock = upgraded(broker.http_port, subprotocol)
    connect_packet = bytes([
        0x10, 0x10,                          # CONNECT, remaining length 16
        0x00, 0x04, *b"MQTT",                # protocol name
        0x04,                                # protocol level 4 (3.1.1)
        0x02,                                # flags: clean session
        0x00, 0x3C,                          # keep alive 60 s
        0x00, 0x04, *b"ws-1",                # client id "ws-1"
    ])
    sock.sendall(client_frame(connect_packet))
    first, length = read_exact(sock, 2)
    assert first == 0x82, f"FIN + binary frame, got {first:#x}"
    assert length == 4, "unmasked, 4 bytes"
    assert read_exact(sock, 4) == bytes([0x20, 0x02, 0x00, 0x00])  # CONNACK accepted
    sock.sendall(client_frame(bytes([0xC0, 0x00])))  # PINGREQ
    assert read_exact(sock, 4) == bytes([0x82, 0x02, 0xD0, 0x00])  # PINGRESP in a frame
    sock.close()


def ws_client(port: int, client_id: str, protocol: int, subprotocol: str):
    """A paho client over WebSocket offering exactly `subprotocol` (paho's own
    handshake always offers `mqtt`; the header is overridden here)."""
    received: "queue.Queue[paho.MQTTMessage]" = queue.Queue()
    connected = threading.Event()
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=protocol, transport="websockets")
    c.ws_set_options(path="/mqtt", headers={"Sec-Websocket-Protocol": subprotocol})
    c.on_connect = lambda *args: connected.set()
    c.on_message = lambda cl, u, m: received.put(m)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    assert connected.wait(10), f"no CONNACK over WebSocket ({subprotocol})"
    return c, received


@pytest.mark.parametrize("protocol, subprotocol", [
    (paho.MQTTv31, "mqttv3.1"),
    (paho.MQTTv311, "mqttv3.1"),
    (paho.MQTTv311, "mqtt"),
    (paho.MQTTv5, "mqtt"),
])
def test_paho_over_websocket_exchanges_messages_with_tcp(broker, protocol, subprotocol):
    ws, received = ws_client(broker.http_port, "ws-client", protocol, subprotocol)
    tcp = Client(broker.tcp_port, "tcp-client")
    ws.subscribe("ws/in", qos=1)
    tcp.subscribe("ws/out", qos=1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # until the WebSocket subscription is active
        tcp.publish("ws/in", b"to-ws", qos=1)
        try:
            m = received.get(timeout=0.3)
            break
        except queue.Empty:
            continue
    else:
        raise AssertionError(f"nothing reached the WebSocket client ({subprotocol})")
    assert (m.topic, m.payload) == ("ws/in", b"to-ws")
    ws.publish("ws/out", b"from-ws", qos=1).wait_for_publish(5)
    m = tcp.expect()
    assert (m.topic, m.payload) == ("ws/out", b"from-ws")
    ws.disconnect()
    ws.loop_stop()
    tcp.close()


def test_a_websocket_subscriber_that_takes_nothing_is_closed_after_the_write_timeout(request):
    """Over WebSocket too, a subscriber that stops reading is closed after
    --write-timeout, and its end completes: the broker does not then wait
    forever to send it a Close frame behind the unsent data."""
    b = Broker(f"kite-server-{request.node.name}", ["--write-timeout", "1"])
    try:
        stalled = upgraded(b.http_port, rcvbuf=4096)
        stalled.sendall(client_frame(connect("ws-lag")))
        assert read_exact(stalled, 6) == bytes([0x82, 0x04, 0x20, 0x02, 0x00, 0x00])  # CONNACK
        stalled.sendall(client_frame(subscribe(("flood/#", 0))))  # packet id 1
        assert read_exact(stalled, 7) == bytes([0x82, 0x05, 0x90, 0x03, 0x00, 0x01, 0x00])  # SUBACK
        pub = Client(b.tcp_port, "flooder")
        chunk = b"x" * 16384
        for _ in range(1024):  # 16 MiB: more than the socket buffers hold
            pub.publish("flood/x", chunk, qos=0)
        deadline = time.monotonic() + 15
        while (metric(b.http_port, "kite_write_timeouts_total") < 1
               and time.monotonic() < deadline):
            time.sleep(0.2)
        assert metric(b.http_port, "kite_write_timeouts_total") == 1
        # The end ran to completion: the client is no longer counted.
        deadline = time.monotonic() + 5
        while metric(b.http_port, "kite_clients_connected") > 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert metric(b.http_port, "kite_clients_connected") == 1, "the stalled client's end hung"
        stalled.close()
        pub.close()
    finally:
        assert b.alive()
        assert b.stop() == 0
