"""Authentication: `kite-server passwd`, the password file, the anonymous
rule (loopback only by default), CONNACK refusals, SIGHUP reload."""

import os
import signal
import socket
import stat
import subprocess
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import BIN_DIR, Broker
from mqtt_helpers import Client
from raw_mqtt import closed_by_peer, connect, connect_v5, metric, read_packet, s

KITE = str(BIN_DIR / "kite-server")


def passwd(path, user, password, *extra):
    return subprocess.run([KITE, "passwd", str(path), user, "--password-stdin", *extra],
                          input=password + "\n", capture_output=True, text=True, timeout=30)


def try_connect(port, protocol=paho.MQTTv311, username=None, password=None):
    """CONNECT with paho; returns the CONNACK reason code as an int."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"try-{time.monotonic_ns()}",
                    protocol=protocol)
    if username is not None:
        c.username_pw_set(username, password)
    got = {}
    c.on_connect = lambda cl, u, f, reason, p: got.setdefault("rc", reason)
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    deadline = time.monotonic() + 10
    while "rc" not in got and time.monotonic() < deadline:
        time.sleep(0.02)
    c.disconnect()
    c.loop_stop()
    assert "rc" in got, "no CONNACK"
    return got["rc"].value


def raw_connack(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        kind, _, body = read_packet(sock)
        assert kind == 2
        closed, _ = closed_by_peer(sock) if body[1] else (True, b"")
        return body[1], closed


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "passwd"
    for user, password in [("alice", "wonderland"), ("bob", "builder")]:
        result = passwd(path, user, password)
        assert result.returncode == 0, result.stderr
    return path


def test_passwd_writes_argon2id_lines_and_updates_in_place(tmp_path):
    path = tmp_path / "pw"
    assert passwd(path, "alice", "one").returncode == 0
    assert passwd(path, "bob", "two").returncode == 0
    first = path.read_text().splitlines()
    assert [line.split(":")[0] for line in first] == ["alice", "bob"]
    assert all(line.split(":", 1)[1].startswith("$argon2id$v=19$") for line in first)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    result = passwd(path, "alice", "three")
    assert result.returncode == 0 and "updated" in result.stderr
    second = path.read_text().splitlines()
    assert second[1] == first[1] and second[0] != first[0]
    result = subprocess.run([KITE, "passwd", str(path), "bob", "-D"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in path.read_text().splitlines()] == ["alice"]
    bad = passwd(path, "a:b", "x")
    assert bad.returncode != 0 and ":" in bad.stderr


def test_password_file_users_connect_and_bad_credentials_are_refused(request, users):
    b = Broker(f"kite-server-{request.node.name}",
               ["--password-file", str(users), "--allow-anonymous", "false"])
    try:
        assert try_connect(b.tcp_port, username="alice", password="wonderland") == 0
        assert try_connect(b.tcp_port, paho.MQTTv5, "bob", "builder") == 0
        # v5: 0x86 bad user name or password, 0x87 not authorized.
        assert try_connect(b.tcp_port, paho.MQTTv5, "alice", "nope") == 0x86
        assert try_connect(b.tcp_port, paho.MQTTv5, "mallory", "x") == 0x86
        assert try_connect(b.tcp_port, paho.MQTTv5) == 0x87
        # 3.1.1 return codes 4 and 5, then the connection is closed.
        user_pw = 0xC2  # username + password + clean session
        assert raw_connack(b.tcp_port, connect("r1", flags=user_pw, payload_extra=s("alice") + s("x"))) == (4, True)
        assert raw_connack(b.tcp_port, connect("r2")) == (5, True)
        assert raw_connack(b.tcp_port, connect("r3", flags=0x82, payload_extra=s("alice"))) == (4, True)
        assert raw_connack(b.tcp_port, connect_v5("r4")) == (0x87, True)
        assert metric(b.http_port, "kite_auth_failures_total") >= 4
        assert metric(b.http_port, "kite_anonymous_refused_total") >= 3
    finally:
        assert b.stop() == 0


def test_mosquitto_clients_authenticate(request, users, tmp_path):
    b = Broker(f"kite-server-{request.node.name}",
               ["--password-file", str(users), "--allow-anonymous", "false"])
    try:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.tcp_port),
                                "-u", "bob", "-P", "builder", "-t", "auth/t", "-C", "1", "-W", "10"],
                               stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.tcp_port),
                              "-u", "alice", "-P", "wonderland", "-t", "auth/t", "-m", "hi"],
                             capture_output=True, text=True, timeout=10)
        assert pub.returncode == 0, pub.stderr
        out, _ = sub.communicate(timeout=10)
        assert out.strip() == "hi"
        bad = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.tcp_port),
                              "-u", "alice", "-P", "wrong", "-t", "auth/t", "-m", "x"],
                             capture_output=True, text=True, timeout=10)
        assert bad.returncode != 0
    finally:
        assert b.stop() == 0


def test_anonymous_allowed_on_loopback_by_default(request, users):
    b = Broker(f"kite-server-{request.node.name}", ["--password-file", str(users)])
    try:
        assert try_connect(b.tcp_port) == 0
        assert try_connect(b.tcp_port, paho.MQTTv5, "alice", "wrong") == 0x86
    finally:
        assert b.stop() == 0


def test_anonymous_refused_on_other_addresses_by_default_and_said_at_startup(request, users):
    b = Broker(f"kite-server-{request.node.name}", ["--password-file", str(users)], bind="0.0.0.0")
    try:
        time.sleep(0.2)
        assert "anonymous clients are refused on MQTT over TCP 0.0.0.0" in b.log()
        assert try_connect(b.tcp_port, paho.MQTTv5) == 0x87
        assert try_connect(b.tcp_port) == 0x87  # paho shows 3.1.1's return code 5 as 0x87
        assert try_connect(b.tcp_port, username="alice", password="wonderland") == 0
    finally:
        assert b.stop() == 0
    b = Broker(f"kite-server-{request.node.name}-allowed", ["--allow-anonymous", "true"],
               bind="0.0.0.0")
    try:
        assert try_connect(b.tcp_port) == 0
        assert "refused" not in b.log()
    finally:
        assert b.stop() == 0


def test_sighup_reloads_the_password_file_without_dropping_connections(request, tmp_path):
    path = tmp_path / "pw"
    assert passwd(path, "alice", "one").returncode == 0
    b = Broker(f"kite-server-{request.node.name}",
               ["--password-file", str(path), "--allow-anonymous", "false"])
    try:
        sub = Client(b.tcp_port, "sub", username="alice", password="one")
        sub.subscribe("reload/#")
        assert try_connect(b.tcp_port, username="carol", password="two") == 0x86
        assert passwd(path, "carol", "two").returncode == 0
        assert passwd(path, "alice", "changed").returncode == 0
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "SIGHUP: reloaded" not in b.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "SIGHUP: reloaded (password file: 2 users" in b.log()
        pub = Client(b.tcp_port, "pub", username="carol", password="two")
        pub.publish("reload/x", b"after")
        assert sub.expect().payload == b"after", "the old connection still works"
        assert try_connect(b.tcp_port, username="alice", password="one") == 0x86
        # A broken file is refused and the old one kept.
        path.write_text("garbage line\n")
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload failed" not in b.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "line 1" in b.log()
        assert try_connect(b.tcp_port, username="carol", password="two") == 0
        sub.close()
        pub.close()
    finally:
        assert b.stop() == 0


def test_a_bad_password_file_stops_the_broker_naming_the_line(tmp_path):
    path = tmp_path / "pw"
    assert passwd(path, "alice", "one").returncode == 0
    path.write_text(path.read_text() + "bob:plaintext\n")
    result = subprocess.run([KITE, "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0",
                             "--password-file", str(path), "--data-dir", str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "line 2" in result.stderr and "bob" in result.stderr, result.stderr
