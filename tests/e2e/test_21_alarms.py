"""The alarm engine in the broker: rules published over MQTT raise and
clear alarms on device measurements with no dashboard open."""

import json
import signal
import socket
import time

import paho.mqtt.client as paho

from conftest import Broker
from mqtt_helpers import Client

LOW_BATTERY = {"device": "*", "measurement": "battery", "condition": "<", "threshold": 20,
               "hysteresis": 5, "severity": "warning", "message": "battery low"}


def watch(broker, name, *topics):
    c = Client(broker.tcp_port, name)
    for t in topics:
        c.subscribe(t, 1)
    return c


def next_on(client, topic, timeout=5.0):
    """The next message on `topic` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = client.expect(timeout=deadline - time.monotonic())
        if m.topic == topic:
            return m
    raise AssertionError(f"nothing on {topic}")


def test_rule_raises_below_threshold_and_clears_only_past_the_hysteresis(broker):
    admin = Client(broker.tcp_port, "admin")
    admin.publish("$kite/alarms/rules/low-battery", json.dumps(LOW_BATTERY), qos=1, retain=True)
    watcher = watch(broker, "watcher", "$kite/alarms/active/#", "$kite/alarms/events")
    device = Client(broker.tcp_port, "d1")
    device.publish("devices/d1/battery", b"25", qos=1)
    watcher.expect_none(timeout=0.5)
    device.publish("devices/d1/battery", b"15", qos=1)
    active = json.loads(next_on(watcher, "$kite/alarms/active/d1/low-battery").payload)
    assert (active["value"], active["severity"], active["message"]) == (15, "warning", "battery low")
    event = json.loads(next_on(watcher, "$kite/alarms/events").payload)
    assert (event["type"], event["device"], event["rule"]) == ("raised", "d1", "low-battery")
    device.publish("devices/d1/telemetry", json.dumps({"battery": 22, "temperature": 20}), qos=1)
    watcher.expect_none(timeout=0.5)  # 22 < 20 + 5: still active
    device.publish("devices/d1/battery", b"26", qos=1)
    cleared = next_on(watcher, "$kite/alarms/active/d1/low-battery")
    assert cleared.payload == b"" and cleared.retain is False
    assert json.loads(next_on(watcher, "$kite/alarms/events").payload)["type"] == "cleared"


def test_the_reading_reaches_subscribers_before_the_alarm_it_raises(broker):
    """Cause before effect: a subscriber of both sees the measurement first,
    then the alarm event it raised (the reading is queued before the engine
    publishes in answer)."""
    admin = Client(broker.tcp_port, "admin-order")
    admin.publish("$kite/alarms/rules/low-battery-order", json.dumps(LOW_BATTERY), qos=1,
                  retain=True)
    watcher = watch(broker, "watcher-order", "devices/d-order/#", "$kite/alarms/events")
    device = Client(broker.tcp_port, "d-order")
    device.publish("devices/d-order/battery", b"15", qos=1)
    first = watcher.expect()
    assert (first.topic, first.payload) == ("devices/d-order/battery", b"15")
    event = json.loads(next_on(watcher, "$kite/alarms/events").payload)
    assert (event["type"], event["device"]) == ("raised", "d-order")


def test_offline_for_fires_after_the_devices_last_will(broker):
    Client(broker.tcp_port, "admin").publish(
        "$kite/alarms/rules/gone", json.dumps({"condition": "offline_for", "threshold": 1,
                                               "severity": "critical"}), qos=1, retain=True)
    watcher = watch(broker, "watcher", "$kite/alarms/active/#")
    # A raw device with a will of "offline" on its status topic, then a dropped socket.
    s = socket.create_connection(("127.0.0.1", broker.tcp_port))
    will_topic, will_msg = b"devices/d7/status", b"offline"
    body = (b"\x00\x04MQTT\x04" + bytes([0x2E]) + b"\x00\x3c" + b"\x00\x02d7"
            + len(will_topic).to_bytes(2, "big") + will_topic
            + len(will_msg).to_bytes(2, "big") + will_msg)  # flags: will, QoS 1, retain, clean
    s.sendall(bytes([0x10, len(body)]) + body)
    assert s.recv(4) == bytes([0x20, 2, 0, 0])
    started = time.monotonic()
    s.close()
    active = json.loads(next_on(watcher, "$kite/alarms/active/d7/gone", timeout=6).payload)
    assert active["severity"] == "critical"
    assert time.monotonic() - started >= 0.9, "raised before the threshold"


def test_acknowledgement_is_recorded(broker):
    Client(broker.tcp_port, "admin").publish(
        "$kite/alarms/rules/low", json.dumps(LOW_BATTERY), qos=1, retain=True)
    watcher = watch(broker, "watcher", "$kite/alarms/active/#")
    Client(broker.tcp_port, "d2").publish("devices/d2/battery", b"3", qos=1)
    next_on(watcher, "$kite/alarms/active/d2/low")
    Client(broker.tcp_port, "op").publish("$kite/alarms/ack/d2/low", b"alice", qos=1)
    acked = json.loads(next_on(watcher, "$kite/alarms/active/d2/low").payload)
    assert acked["acknowledged_by"] == "alice" and acked["acknowledged_at"] > 0


def test_bad_rule_is_refused_with_its_reason_and_nothing_is_stored(broker):
    errors = watch(broker, "errors", "$kite/alarms/errors")
    bad = {"device": "*", "measurement": "battery", "condition": "<>", "threshold": 20}
    Client(broker.tcp_port, "admin").publish("$kite/alarms/rules/bad", json.dumps(bad), qos=1, retain=True)
    err = json.loads(next_on(errors, "$kite/alarms/errors").payload)
    assert err["rule"] == "bad" and "unknown variant" in err["error"], err
    reader = Client(broker.tcp_port, "reader")
    reader.subscribe("$kite/alarms/rules/#", 1)
    reader.expect_none(timeout=0.5)


def test_rules_and_active_alarms_survive_a_restart(request):
    broker = Broker(f"kite-server-{request.node.name}-1")
    Client(broker.tcp_port, "admin").publish(
        "$kite/alarms/rules/low", json.dumps(LOW_BATTERY), qos=1, retain=True)
    Client(broker.tcp_port, "d3").publish("devices/d3/battery", b"4", qos=1)
    time.sleep(0.3)
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait(10)
    broker = Broker(f"kite-server-{request.node.name}-2", ["--data-dir", broker.data_dir])
    try:
        watcher = Client(broker.tcp_port, "watcher")
        watcher.subscribe("$kite/alarms/active/#", 1)
        active = watcher.expect()
        assert active.topic == "$kite/alarms/active/d3/low" and active.retain
        # The rule still works: the next reading clears the alarm.
        Client(broker.tcp_port, "d3").publish("devices/d3/battery", b"80", qos=1)
        assert next_on(watcher, "$kite/alarms/active/d3/low").payload == b""
    finally:
        broker.stop()


def test_a_bad_rule_from_an_mqtt5_client_gets_puback_0x99_with_the_reason(broker):
    import threading
    from paho.mqtt.enums import CallbackAPIVersion
    got = {}
    done = threading.Event()
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="v5admin", protocol=paho.MQTTv5)
    def on_publish(client, userdata, mid, reason, properties):
        got["reason"] = reason.value
        got["string"] = getattr(properties, "ReasonString", None)
        done.set()
    c.on_publish = on_publish
    c.connect("127.0.0.1", broker.tcp_port)
    c.loop_start()
    c.publish("$kite/alarms/rules/broken", b'{"condition":"<","threshold":1}', qos=1, retain=True)
    assert done.wait(5)
    c.loop_stop()
    assert got["reason"] == 0x99, got
    assert "needs a measurement" in (got["string"] or ""), got


def test_a_client_without_acl_rights_cannot_write_rules(request, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite devices/#\ntopic read $kite/alarms/#\n")
    b = Broker(f"kite-server-{request.node.name}", ["--acl-file", str(acl)])
    try:
        Client(b.tcp_port, "intruder").publish(
            "$kite/alarms/rules/sneaky", json.dumps(LOW_BATTERY), qos=1, retain=True)
        reader = Client(b.tcp_port, "reader")
        reader.subscribe("$kite/alarms/rules/#", 1)
        reader.expect_none(timeout=0.5)
        Client(b.tcp_port, "d9").publish("devices/d9/battery", b"1", qos=1)
        reader.subscribe("$kite/alarms/active/#", 1)
        reader.expect_none(timeout=0.5)
    finally:
        assert b.stop() == 0


def test_rules_from_the_alarm_rules_file_apply_at_start(request, tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"low": LOW_BATTERY}))
    b = Broker(f"kite-server-{request.node.name}", ["--alarm-rules", str(rules)])
    try:
        watcher = watch(b, "watcher", "$kite/alarms/active/#")
        Client(b.tcp_port, "d8").publish("devices/d8/battery", b"2", qos=1)
        assert next_on(watcher, "$kite/alarms/active/d8/low").payload
    finally:
        assert b.stop() == 0


def test_a_bad_rule_in_the_alarm_rules_file_stops_the_broker(tmp_path):
    import subprocess
    from conftest import BIN_DIR
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"oops": {"condition": "offline_for", "threshold": 0}}))
    out = subprocess.run([str(BIN_DIR / "kite-server"), "--tcp", "127.0.0.1:0",
                          "--http", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                          "--alarm-rules", str(rules)], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0
    assert str(rules) in out.stderr and '"oops"' in out.stderr, out.stderr
