"""Small helpers around paho-mqtt (a client nobody on this project wrote)."""

import queue
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


class Client:
    """A connected paho client that collects received messages in a queue."""

    def __init__(self, port: int, client_id: str, protocol=paho.MQTTv311,
                 transport: str = "tcp", username: str | None = None,
                 password: str | None = None, tls: dict | None = None, **connect_kwargs):
        self.messages: "queue.Queue[paho.MQTTMessage]" = queue.Queue()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.reason = None
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=protocol, transport=transport)
        if transport == "websockets":
            self.client.ws_set_options(path="/mqtt")
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set(**tls)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.connect("127.0.0.1", port, keepalive=30, **connect_kwargs)
        self.client.loop_start()
        assert self._connected.wait(10), f"{client_id}: no CONNACK"
        assert not self.reason.is_failure, f"{client_id}: refused {self.reason}"

    def _on_connect(self, client, userdata, flags, reason, properties):
        self.reason = reason
        self._connected.set()

    def subscribe(self, topic: str, qos: int = 0):
        self._subscribed.clear()
        self.client.subscribe(topic, qos)
        assert self._subscribed.wait(10), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload, qos: int = 0, retain: bool = False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            info.wait_for_publish(10)
        return info

    def expect(self, timeout: float = 5.0) -> paho.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def expect_none(self, timeout: float = 0.5) -> None:
        try:
            m = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()
