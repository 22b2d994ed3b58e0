"""kite-devices as a black box against the real broker: a thousand devices from
one process (the broker's $SYS count agrees), the will marking a killed device
offline, a mixed fleet of both conventions, WebSocket, and a scenario file."""

import json
import os
import resource
import signal
import subprocess
import time

import paho.mqtt.client as paho
import pytest

from conftest import ARTIFACTS, BIN_DIR, ROOT, Broker, Process
from mqtt_helpers import Client

FLEET = 1000


def raise_open_file_limit(wanted: int = 8192) -> int:
    """A thousand connections need more than the usual 1024 descriptors, in the
    broker and in kite-devices alike; children inherit this process's limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def kite_devices(name: str, broker: Broker, *args: str) -> Process:
    return Process(name, [str(BIN_DIR / "kite-devices"),
                          "--broker", f"127.0.0.1:{broker.tcp_port}", *args])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def next_count(watcher: Client, timeout: float) -> int:
    return int(watcher.expect(timeout=timeout).payload)


def wait_for(client: Client, match, timeout: float = 10.0):
    """The first message for which match(message) is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = client.expect(timeout=max(0.1, deadline - time.monotonic()))
        if match(m):
            return m
    raise AssertionError("no matching message in time")


def test_a_thousand_devices_connect_and_the_sys_count_agrees():
    limit = raise_open_file_limit()
    if limit < 2 * FLEET + 100:
        pytest.skip(f"open-file limit {limit} is too low for {FLEET} connections")
    broker = Broker("kite-server-1000-devices", extra=["--sys-interval", "1"])
    fleet = None
    try:
        watcher = Client(broker.tcp_port, "sys-watcher")
        watcher.subscribe("$SYS/broker/clients/connected")
        baseline = next_count(watcher, 5)  # this watcher, maybe counted already
        started = time.monotonic()
        fleet = kite_devices("kite-devices-1000", broker, "--count", str(FLEET),
                             "--disconnect-rate", "0")
        want = max(baseline, 1) + FLEET
        count = baseline
        while count != want and time.monotonic() - started < 90:
            count = next_count(watcher, 10)
            assert count <= want, f"more clients than devices: {count}"
        elapsed = time.monotonic() - started
        assert count == want, f"$SYS says {count} connected, expected {want}"
        assert fleet.alive(), fleet.log()[-2000:]
        # Let every device publish a few readings before measuring memory.
        time.sleep(3)
        rss = rss_kib(fleet.proc.pid)
        report = (f"{FLEET} devices: $SYS count reached {count} after {elapsed:.1f} s; "
                  f"kite-devices RSS {rss / 1024:.1f} MiB")
        print(report)
        (ARTIFACTS / "devices-1000.txt").write_text(report + "\n")
        assert "all devices connected" in fleet.log()

        # A clean stop says goodbye: every device leaves, none lingers.
        assert fleet.stop() == 0
        fleet = None
        deadline = time.monotonic() + 30
        while count != want - FLEET and time.monotonic() < deadline:
            count = next_count(watcher, 10)
        assert count == want - FLEET
        watcher.close()
    finally:
        if fleet is not None:
            fleet.stop()
        assert broker.alive(), broker.log()[-3000:]
        broker.stop()


@pytest.mark.parametrize("convention,status_topic", [
    ("kite", "devices/victim-1/status"),
    ("homeassistant", "kite-ha/victim-1/availability"),
], ids=["kite", "homeassistant"])
def test_a_device_killed_abruptly_is_marked_offline_by_its_will(broker, convention, status_topic):
    watcher = Client(broker.tcp_port, "status-watcher")
    watcher.subscribe(status_topic, qos=1)
    share = "1" if convention == "homeassistant" else "0"
    victim = kite_devices(f"kite-devices-victim-{convention}", broker, "--count", "1",
                          "--prefix", "victim", "--ha-share", share)
    try:
        wait_for(watcher, lambda m: m.payload == b"online")
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        m = wait_for(watcher, lambda m: True)
        assert (m.topic, m.payload) == (status_topic, b"offline")
    finally:
        victim.stop()
    late = Client(broker.tcp_port, "late-watcher")
    late.subscribe(status_topic)
    m = late.expect()
    assert (m.payload, m.retain) == (b"offline", True), "offline stays retained"
    watcher.close()
    late.close()


def test_a_mixed_fleet_speaks_both_conventions(broker):
    fleet = kite_devices("kite-devices-mixed", broker, "--count", "12", "--ha-share", "0.25",
                         "--interval", "0.2")
    try:
        time.sleep(2)
        sub = Client(broker.tcp_port, "mixed-watcher")
        sub.subscribe("devices/#")
        sub.subscribe("homeassistant/#")
        sub.subscribe("kite-ha/#")
        seen: dict[str, bytes] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(seen) < 200:
            m = sub.expect(timeout=5)
            seen.setdefault(m.topic, m.payload)
        ha = {4, 8, 12}
        for n in range(1, 13):
            if n in ha:
                config = seen.get(f"homeassistant/sensor/sim-{n}/battery/config")
                assert config, f"sim-{n} announces itself through discovery"
                assert f"kite-ha/sim-{n}/state" in seen
                assert f"devices/sim-{n}/telemetry" not in seen
            else:
                telemetry = json.loads(seen[f"devices/sim-{n}/telemetry"])
                assert {"temperature", "battery", "signal"} <= telemetry.keys()
                meta = json.loads(seen[f"devices/sim-{n}/meta"])
                assert meta["name"] and meta["kind"] in {"climate", "door", "motion", "button"}
                assert seen[f"devices/sim-{n}/status"] == b"online"
        sub.close()
    finally:
        assert fleet.stop() == 0


def test_websocket_and_mqtt5(broker):
    fleet = Process("kite-devices-ws", [
        str(BIN_DIR / "kite-devices"), "--ws", "--broker", f"ws://127.0.0.1:{broker.http_port}/mqtt",
        "--protocol", "5", "--count", "3", "--prefix", "ws", "--interval", "0.2"])
    try:
        sub = Client(broker.tcp_port, "ws-watcher", paho.MQTTv5)
        sub.subscribe("devices/+/telemetry")
        ids = set()
        deadline = time.monotonic() + 10
        while len(ids) < 3 and time.monotonic() < deadline:
            ids.add(sub.expect(timeout=5).topic.split("/")[1])
        assert ids == {"ws-1", "ws-2", "ws-3"}
        sub.close()
    finally:
        assert fleet.stop() == 0


def test_a_scenario_file_defines_the_fleet(broker):
    scenario = ROOT / "devices" / "scenarios" / "home.toml"
    fleet = kite_devices("kite-devices-scenario", broker, "--scenario", str(scenario))
    try:
        sub = Client(broker.tcp_port, "scenario-watcher")
        sub.subscribe("devices/+/meta")
        sub.subscribe("homeassistant/+/+/+/config")
        names = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not {"kitchen", "front-door", "zb-garage"} <= names.keys():
            m = sub.expect(timeout=5)
            parts = m.topic.split("/")
            device = parts[1] if parts[0] == "devices" else parts[2]
            names[device] = json.loads(m.payload)
        assert names["front-door"]["name"] == "Front door"
        assert names["kitchen"]["kind"] == "climate"
        assert "zb-garage" in names, "a Home Assistant device of the scenario"
        sub.close()
    finally:
        assert fleet.stop() == 0


def test_a_bad_scenario_is_refused_with_a_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[device]]\nid = "a"\nkind = "toaster"\n')
    out = subprocess.run([str(BIN_DIR / "kite-devices"), "--scenario", str(bad)],
                         capture_output=True, text=True, timeout=10,
                         env=dict(os.environ, RUST_LOG="info"))
    assert out.returncode == 2
    assert "toaster" in out.stderr


def test_username_and_password_are_sent(tmp_path):
    passwords = tmp_path / "passwords"
    subprocess.run([str(BIN_DIR / "kite-server"), "passwd", "--password-stdin", str(passwords), "fleet"],
                   input="s3cret\n", text=True, check=True, capture_output=True, timeout=30)
    broker = Broker("kite-server-devices-auth",
                    extra=["--password-file", str(passwords), "--allow-anonymous", "false"])
    good = bad = None
    try:
        sub = Client(broker.tcp_port, "auth-watcher", username="fleet", password="s3cret")
        sub.subscribe("devices/+/status")
        good = kite_devices("kite-devices-auth-good", broker, "--count", "1", "--prefix", "good",
                            "--username", "fleet", "--password", "s3cret")
        bad = kite_devices("kite-devices-auth-bad", broker, "--count", "1", "--prefix", "bad",
                           "--username", "fleet", "--password", "wrong")
        m = wait_for(sub, lambda m: m.payload == b"online")
        assert m.topic == "devices/good-1/status"
        time.sleep(1)
        assert "BadUserNameOrPassword" in bad.log(), "the refused device says why"
        sub.expect_none()
        sub.close()
    finally:
        for p in (good, bad):
            if p is not None:
                p.stop()
        broker.stop()
