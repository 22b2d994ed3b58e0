"""QoS 0 routing through the broker over TCP and WebSocket, with paho-mqtt
(MQTT 3.1.1 and 5.0) as the independent client."""

import paho.mqtt.client as paho
import pytest

from mqtt_helpers import Client


@pytest.mark.parametrize("protocol", [paho.MQTTv311, paho.MQTTv5], ids=["v311", "v5"])
def test_publish_reaches_exact_and_wildcard_subscribers(broker, protocol):
    exact = Client(broker.tcp_port, "exact", protocol)
    plus = Client(broker.tcp_port, "plus", protocol)
    hash_ = Client(broker.tcp_port, "hash", protocol)
    exact.subscribe("devices/d1/temperature")
    plus.subscribe("devices/+/temperature")
    hash_.subscribe("devices/#")
    pub = Client(broker.tcp_port, "pub", protocol)
    pub.publish("devices/d1/temperature", b"21.5")
    for c in (exact, plus, hash_):
        m = c.expect()
        assert (m.topic, m.payload) == ("devices/d1/temperature", b"21.5")
    pub.publish("devices/d1/battery", b"80")
    assert hash_.expect().topic == "devices/d1/battery"
    exact.expect_none()
    plus.expect_none()
    for c in (exact, plus, hash_, pub):
        c.close()


def test_hash_does_not_match_dollar_topics(broker):
    sub = Client(broker.tcp_port, "sub")
    sub.subscribe("#")
    pub = Client(broker.tcp_port, "pub")
    pub.publish("$custom/x", b"hidden")
    pub.publish("visible", b"1")
    assert sub.expect().topic == "visible"
    sub.expect_none()


def test_websocket_and_tcp_clients_exchange_messages(broker):
    ws = Client(broker.http_port, "ws-sub", transport="websockets")
    ws.subscribe("chat/#")
    tcp = Client(broker.tcp_port, "tcp-pub")
    tcp.publish("chat/room", b"hello from tcp")
    assert ws.expect().payload == b"hello from tcp"
    tcp.subscribe("reply")
    ws.publish("reply", b"hello from ws")
    assert tcp.expect().payload == b"hello from ws"


def test_retained_message_is_served_to_a_later_subscriber(broker):
    pub = Client(broker.tcp_port, "pub")
    pub.publish("devices/d9/status", b"online", qos=1, retain=True)
    sub = Client(broker.tcp_port, "late")
    sub.subscribe("devices/+/status")
    m = sub.expect()
    assert (m.payload, m.retain) == (b"online", True)


def test_pingreq_is_answered(broker):
    import socket
    with socket.create_connection(("127.0.0.1", broker.tcp_port)) as s:
        # CONNECT 3.1.1: fixed header, "MQTT", level 4, clean session, keepalive 60, id "p"
        s.sendall(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 1]) + b"p")
        assert s.recv(4) == bytes([0x20, 2, 0, 0])  # CONNACK, accepted
        s.sendall(bytes([0xC0, 0]))  # PINGREQ
        assert s.recv(2) == bytes([0xD0, 0])  # PINGRESP


def test_sys_tree_and_metrics_count_clients(request):
    import urllib.request
    from conftest import Broker
    b = Broker(f"kite-server-{request.node.name}", ["--sys-interval", "1"])
    try:
        sub = Client(b.tcp_port, "sys-watcher")
        sub.subscribe("$SYS/broker/clients/connected")
        # The retained value may predate us (0); the next one, a second later, counts us.
        counts = [int(sub.expect(timeout=5).payload) for _ in range(2)]
        assert counts[-1] == 1, counts
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{b.http_port}/metrics", timeout=5).read().decode()
        assert "kite_clients_connected 1" in metrics, metrics
        sub.close()
    finally:
        assert b.stop() == 0
