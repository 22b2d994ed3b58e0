"""Sessions: persistent sessions keep subscriptions and queue messages while
the client is away; a second connection with the same client id takes over."""

import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from mqtt_helpers import Client


def connect_flags(port, client_id, clean, protocol=paho.MQTTv311, expiry=None):
    """Connect with paho and return (client, session_present, received-queue)."""
    got = {}
    done = threading.Event()
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol,
                    **({"clean_session": clean} if protocol != paho.MQTTv5 else {}))
    msgs = []
    c.on_message = lambda cl, u, m: msgs.append((m.topic, m.payload, m.qos, m.dup))
    def on_connect(cl, u, flags, reason, props):
        got["present"] = flags.session_present
        done.set()
    c.on_connect = on_connect
    kwargs = {}
    if protocol == paho.MQTTv5:
        kwargs["clean_start"] = clean
        if expiry is not None:
            p = Properties(PacketTypes.CONNECT)
            p.SessionExpiryInterval = expiry
            kwargs["properties"] = p
    c.connect("127.0.0.1", port, 30, **kwargs)
    c.loop_start()
    assert done.wait(10)
    return c, got["present"], msgs


def wait_until(pred, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_persistent_session_queues_qos1_messages_while_offline_v311(broker):
    c, present, _ = connect_flags(broker.tcp_port, "durable", clean=False)
    assert present is False
    c.subscribe("queue/#", qos=1)
    time.sleep(0.3)
    c.disconnect(); c.loop_stop()
    pub = Client(broker.tcp_port, "pub")
    for n in range(5):
        pub.publish(f"queue/{n}", f"m{n}".encode(), qos=1)
    c, present, msgs = connect_flags(broker.tcp_port, "durable", clean=False)
    assert present is True, "CONNACK must say session present"
    assert wait_until(lambda: len(msgs) == 5), msgs
    assert [m[1] for m in msgs] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert all(m[2] == 1 for m in msgs)
    c.disconnect(); c.loop_stop()
    # Clean session 1 discards it.
    c, present, _ = connect_flags(broker.tcp_port, "durable", clean=True)
    assert present is False
    c.disconnect(); c.loop_stop()


def test_v5_session_expiry_zero_ends_the_session_with_the_connection(broker):
    c, present, _ = connect_flags(broker.tcp_port, "v5-short", clean=True, protocol=paho.MQTTv5)
    c.subscribe("x", qos=1); time.sleep(0.2)
    c.disconnect(); c.loop_stop()
    c, present, _ = connect_flags(broker.tcp_port, "v5-short", clean=False, protocol=paho.MQTTv5)
    assert present is False
    c.disconnect(); c.loop_stop()


def test_v5_session_with_expiry_is_resumed_and_then_expires(broker):
    c, _, _ = connect_flags(broker.tcp_port, "v5-long", clean=True, protocol=paho.MQTTv5, expiry=2)
    c.subscribe("y", qos=1); time.sleep(0.2)
    c.disconnect(); c.loop_stop()
    c, present, _ = connect_flags(broker.tcp_port, "v5-long", clean=False, protocol=paho.MQTTv5, expiry=1)
    assert present is True
    c.disconnect(); c.loop_stop()
    time.sleep(1.5)
    c, present, _ = connect_flags(broker.tcp_port, "v5-long", clean=False, protocol=paho.MQTTv5)
    assert present is False, "the session should have expired after 1 s"
    c.disconnect(); c.loop_stop()


def test_second_connection_with_the_same_id_takes_over(broker):
    first = Client(broker.tcp_port, "twin")
    disconnected = threading.Event()
    first.client.on_disconnect = lambda *a: disconnected.set()
    second = Client(broker.tcp_port, "twin")
    assert disconnected.wait(5), "the first connection must be closed"
    first.client.loop_stop()  # paho would reconnect and take the id back
    second.subscribe("t")
    Client(broker.tcp_port, "pub").publish("t", b"to the new one")
    assert second.expect().payload == b"to the new one"
