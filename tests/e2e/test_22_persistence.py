"""Crash safety: what the broker acknowledged survives a SIGKILL. Each test
kills the broker with SIGKILL and restarts it on the same --data-dir."""

import signal
import tempfile
import threading
import time
import urllib.request

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from conftest import Broker
from mqtt_helpers import Client


def kill(broker: Broker) -> None:
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait(10)
    broker._log.close()


def restart(broker: Broker, name: str, extra=()) -> Broker:
    """A new broker process on the same data dir (new ports)."""
    return Broker(name, ["--data-dir", broker.data_dir, *extra])


class Subscriber:
    """A persistent-session paho client recording what it receives."""

    def __init__(self, port, client_id, protocol=paho.MQTTv311):
        self.messages = []
        self.present = None
        self._lock = threading.Lock()
        connected = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol, clean_session=False)
        self.client.on_message = self._on_message
        def on_connect(c, u, flags, reason, props):
            self.present = flags.session_present
            connected.set()
        self.client.on_connect = on_connect
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert connected.wait(10), "no CONNACK"

    def _on_message(self, c, u, m):
        with self._lock:
            self.messages.append((m.topic, m.payload, m.qos))

    def subscribe(self, topic, qos):
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos)
        assert done.wait(10)

    def wait_for(self, count, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self._lock:
            return list(self.messages)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def retained_topics(broker, topic_filter):
    """The topics of the retained messages a new subscriber to `topic_filter` gets."""
    reader = Client(broker.tcp_port, "reader")
    reader.subscribe(topic_filter)
    got = set()
    try:
        while True:
            got.add(reader.expect(timeout=1).topic)
    except Exception:
        pass
    return got


def publish_until_killed(broker, topic_prefix, qos, count, kill_after):
    """Publish `count` messages one at a time, each awaited; SIGKILL the broker
    after `kill_after` acknowledgements. Returns the payloads acknowledged."""
    acked = []
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{topic_prefix}")
    pub.connect("127.0.0.1", broker.tcp_port, 30)
    pub.loop_start()
    for n in range(count):
        payload = f"{topic_prefix}-{n:04d}".encode()
        info = pub.publish(f"{topic_prefix}/{n % 3}", payload, qos=qos)
        try:
            info.wait_for_publish(timeout=2)
        except (RuntimeError, ValueError):
            break
        if not info.is_published():
            break
        acked.append(payload)
        if len(acked) == kill_after:
            kill(broker)
    pub.loop_stop()
    return acked


def test_acknowledged_qos1_and_qos2_messages_survive_sigkill(request):
    broker = Broker(f"kite-server-{request.node.name}-1")
    sub = Subscriber(broker.tcp_port, "durable-sub")
    sub.subscribe("q1/#", 1)
    sub.subscribe("q2/#", 2)
    sub.close()
    acked1 = publish_until_killed(broker, "q1", 1, 400, kill_after=10_000)  # no kill yet
    acked2 = publish_until_killed(broker, "q2", 2, 400, kill_after=150)
    assert len(acked1) == 400 and len(acked2) == 150, (len(acked1), len(acked2))

    broker = restart(broker, f"kite-server-{request.node.name}-2")
    try:
        sub = Subscriber(broker.tcp_port, "durable-sub")
        assert sub.present is True, "the session must survive the crash"
        got = sub.wait_for(len(acked1) + len(acked2))
        sub.close()
        q1 = [p for t, p, q in got if t.startswith("q1/")]
        q2 = [p for t, p, q in got if t.startswith("q2/")]
        assert set(acked1) <= set(q1), f"lost QoS 1: {len(set(acked1) - set(q1))}"
        assert set(acked2) <= set(q2), f"lost QoS 2: {len(set(acked2) - set(q2))}"
        assert len(q2) == len(set(q2)), "a QoS 2 message arrived twice"
        assert q1 == sorted(q1) and q2 == sorted(q2), "order per publisher was not kept"
    finally:
        broker.stop()


def test_retained_messages_and_subscriptions_survive_sigkill(request):
    broker = Broker(f"kite-server-{request.node.name}-1")
    sub = Subscriber(broker.tcp_port, "sub-survivor")
    sub.subscribe("later/#", 1)
    sub.close()
    pub = Client(broker.tcp_port, "retainer")
    for n in range(50):
        pub.publish(f"devices/d{n}/status", b"online", qos=1, retain=True)
    pub.publish("devices/d0/status", b"", qos=1, retain=True)  # deleted
    kill(broker)

    broker = restart(broker, f"kite-server-{request.node.name}-2")
    try:
        got = retained_topics(broker, "devices/+/status")
        assert len(got) == 49 and "devices/d0/status" not in got, sorted(got)
        # The subscription came back with the session: no SUBSCRIBE needed.
        sub = Subscriber(broker.tcp_port, "sub-survivor")
        assert sub.present is True
        Client(broker.tcp_port, "late-pub").publish("later/x", b"after restart", qos=1)
        assert sub.wait_for(1)[0][1] == b"after restart"
        sub.close()
    finally:
        broker.stop()


def test_queue_limit_drops_and_counts_for_an_offline_session(request):
    broker = Broker(f"kite-server-{request.node.name}", ["--max-queued-messages", "10", "--sys-interval", "1"])
    try:
        sub = Subscriber(broker.tcp_port, "slowpoke")
        sub.subscribe("flood/#", 1)
        sub.close()
        pub = Client(broker.tcp_port, "flooder")
        for n in range(25):
            pub.publish("flood/x", f"{n}".encode(), qos=1)
        sys_watch = Client(broker.tcp_port, "sys-watch")
        sys_watch.subscribe("$SYS/broker/clients/slowpoke/dropped")
        # The retained value may predate the last publishes (it is published
        # every second, and paho's publish does not wait for the PUBACK):
        # the count climbs to 15 and stops there.
        seen = []
        deadline = time.monotonic() + 5
        while b"15" not in seen and time.monotonic() < deadline:
            seen.append(sys_watch.expect(timeout=deadline - time.monotonic()).payload)
        assert seen[-1] == b"15", seen
        sub = Subscriber(broker.tcp_port, "slowpoke")
        got = sub.wait_for(10, timeout=5)
        time.sleep(0.5)
        sub.close()
        assert [p for _, p, _ in got] == [f"{n}".encode() for n in range(10)]
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics").read().decode()
        assert "kite_messages_dropped_total 15" in metrics, metrics
        assert 'kite_client_messages_dropped_total{client_id="slowpoke"} 15' in metrics, metrics
    finally:
        broker.stop()


def test_durability_none_keeps_nothing(request):
    broker = Broker(f"kite-server-{request.node.name}-1", ["--durability", "none"])
    Client(broker.tcp_port, "p").publish("gone/after/restart", b"x", qos=1, retain=True)
    kill(broker)
    broker = restart(broker, f"kite-server-{request.node.name}-2", ["--durability", "none"])
    try:
        reader = Client(broker.tcp_port, "r")
        reader.subscribe("gone/#")
        reader.expect_none(timeout=1)
    finally:
        broker.stop()


def test_a_corrupt_store_stops_the_broker_with_the_file_named(request):
    import pathlib
    import subprocess
    from conftest import BIN_DIR
    data = pathlib.Path(tempfile.mkdtemp(prefix="kite-corrupt-"))
    (data / "kite.redb").write_bytes(b"this is not a database" * 100)
    out = subprocess.run([str(BIN_DIR / "kite-server"), "--tcp", "127.0.0.1:0",
                          "--http", "127.0.0.1:0", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert str(data / "kite.redb") in out.stderr, out.stderr
    assert (data / "kite.redb").read_bytes() == b"this is not a database" * 100, "data was changed"


def test_store_file_shrinks_back_after_data_is_deleted(request):
    import os
    broker = Broker(f"kite-server-{request.node.name}-1")
    pub = Client(broker.tcp_port, "bulk")
    blob = os.urandom(10_000)
    for n in range(1500):
        pub.publish(f"bulk/{n}", blob, qos=1, retain=True)
    db = os.path.join(broker.data_dir, "kite.redb")
    full = os.path.getsize(db)
    for n in range(1500):
        pub.publish(f"bulk/{n}", b"", qos=1, retain=True)
    pub.close()
    assert broker.stop() == 0
    broker = restart(broker, f"kite-server-{request.node.name}-2")
    try:
        assert full > 15_000_000, full
        emptied = os.path.getsize(db)
        assert emptied < full / 3, f"{full} bytes with data, {emptied} after deleting it all"
    finally:
        broker.stop()


def test_qos0_retained_messages_survive_sigkill(request):
    """No PUBACK waits for them, but a retained write still commits at once.
    (Writes nobody waits for at all, like alarm state, commit within 100 ms:
    test_21_alarms' restart test kills the broker 0.3 s after one.)"""
    broker = Broker(f"kite-server-{request.node.name}-1")
    pub = Client(broker.tcp_port, "lazy")
    for n in range(20):
        pub.publish(f"lazy/{n}", b"kept", qos=0, retain=True)
    time.sleep(0.5)
    kill(broker)
    broker = restart(broker, f"kite-server-{request.node.name}-2")
    try:
        got = retained_topics(broker, "lazy/#")
        assert got == {f"lazy/{n}" for n in range(20)}, sorted(got)
    finally:
        broker.stop()
