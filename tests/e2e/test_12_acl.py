"""Authorisation: the ACL file on publish (v5 PUBACK 0x87, message
dropped), subscribe (SUBACK failure), delivery, `$SYS`, patterns, SIGHUP."""

import signal
import socket
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

from conftest import BIN_DIR, Broker
from mqtt_helpers import Client
from raw_mqtt import (connect, open_session, props, publish, read_packet, s, subscribe)

KITE = str(BIN_DIR / "kite-server")

ACL = """\
# anonymous clients may read public/
topic read public/#

user alice
topic readwrite alice/#
topic write public/#
topic deny alice/secret
topic read $SYS/broker/uptime

user bob
topic read alice/#
topic read #

pattern readwrite clients/%c/#
pattern read inbox/%u
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("acl")
    pw = d / "passwd"
    for user in ["alice", "bob"]:
        r = subprocess.run([KITE, "passwd", str(pw), user, "--password-stdin"], input="pw\n",
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    acl = d / "acl"
    acl.write_text(ACL)
    return pw, acl


@pytest.fixture(scope="module")
def broker_acl(files):
    pw, acl = files
    b = Broker("kite-server-acl", ["--password-file", str(pw), "--acl-file", str(acl),
                                   "--sys-interval", "1"])
    yield b
    assert b.alive(), b.log()[-3000:]
    assert b.stop() == 0


def user_login(user):
    # username + password flags, clean session
    return 0xC2, s(user) + s("pw")


def v5_session(port, client_id, user=None):
    flags, extra = (0x02, b"") if user is None else user_login(user)
    return open_session(port, connect(client_id, level=5, flags=flags, properties=props(),
                                      payload_extra=extra))


def v311_session(port, client_id, user=None):
    flags, extra = (0x02, b"") if user is None else user_login(user)
    return open_session(port, connect(client_id, flags=flags, payload_extra=extra))


def suback_codes(sock, *filters, v5=True):
    sock.sendall(subscribe(*[(f, 1) for f in filters], pid=7, v5=v5))
    kind, _, body = read_packet(sock)
    assert kind == 9
    if v5:
        plen = body[2]
        return list(body[3 + plen:])
    return list(body[2:])


def test_publish_refused_with_0x87_and_dropped(broker_acl):
    watcher = Client(broker_acl.tcp_port, "watcher", username="bob", password="pw")
    watcher.subscribe("#")
    alice = v5_session(broker_acl.tcp_port, "alice-1", "alice")
    try:
        # Allowed: PUBACK 0x00 (short form) and delivered.
        alice.sendall(publish("alice/ok", b"1", qos=1, pid=1, v5=True))
        kind, _, body = read_packet(alice)
        assert kind == 4 and (len(body) == 2 or body[2] == 0)
        assert watcher.expect().topic == "alice/ok"
        # Not allowed (no rule, and a deny rule): PUBACK / PUBREC 0x87, dropped.
        for topic, qos, kind_expected in [("bob/x", 1, 4), ("alice/secret", 1, 4), ("bob/y", 2, 5)]:
            alice.sendall(publish(topic, b"no", qos=qos, pid=2, v5=True))
            kind, _, body = read_packet(alice)
            assert (kind, body[2]) == (kind_expected, 0x87), (topic, kind, body)
        alice.sendall(publish("bob/z", b"no", qos=0, v5=True))
        watcher.expect_none(0.5)
        # The connection is still fine.
        alice.sendall(publish("public/news", b"ok", qos=1, pid=3, v5=True))
        assert read_packet(alice)[0] == 4
        assert watcher.expect().topic == "public/news"
    finally:
        alice.close()
        watcher.close()


def test_3_1_1_publish_refused_silently(broker_acl):
    watcher = Client(broker_acl.tcp_port, "watcher-311", username="bob", password="pw")
    watcher.subscribe("#")
    sock = v311_session(broker_acl.tcp_port, "alice-311", "alice")
    try:
        sock.sendall(publish("bob/x", b"no", qos=1, pid=5))
        kind, _, body = read_packet(sock)
        assert kind == 4 and body == bytes([0, 5]), "3.1.1 cannot say no: a plain PUBACK"
        watcher.expect_none(0.5)
    finally:
        sock.close()
        watcher.close()


def test_subscribe_refused_in_suback(broker_acl):
    alice = v5_session(broker_acl.tcp_port, "alice-sub", "alice")
    anon = v311_session(broker_acl.tcp_port, "anon-sub")
    try:
        assert suback_codes(alice, "alice/#", "bob/#", "#", "alice/secret") == [1, 0x87, 0x87, 0x87]
        assert suback_codes(anon, "public/#", "public/+/x", "private/x", v5=False) == [1, 1, 0x80]
    finally:
        alice.close()
        anon.close()


def test_deliveries_need_read_access(broker_acl):
    # bob reads everything but alice/secret is denied only to alice; anonymous
    # subscribers to public/# get public messages only.
    anon = Client(broker_acl.tcp_port, "anon-reader")
    anon.subscribe("public/#")
    alice = Client(broker_acl.tcp_port, "alice-pub", username="alice", password="pw")
    alice.publish("public/a", b"for all", qos=1)
    assert anon.expect().payload == b"for all"
    anon.close()
    alice.close()


def test_sys_readable_only_where_allowed(broker_acl):
    bob = Client(broker_acl.tcp_port, "bob-sys", username="bob", password="pw")
    bob.subscribe("#")  # `#` never matches $SYS, and bob has no $SYS rule
    alice = v5_session(broker_acl.tcp_port, "alice-sys", "alice")
    try:
        assert suback_codes(alice, "$SYS/broker/uptime", "$SYS/#") == [1, 0x87]
        kind, _, body = read_packet(alice, timeout=5)
        assert kind == 3 and b"$SYS/broker/uptime" in body
        bob_sock = v5_session(broker_acl.tcp_port, "bob-sys2", "bob")
        assert suback_codes(bob_sock, "$SYS/#") == [0x87]
        bob_sock.close()
        time.sleep(1.5)
        while True:
            try:
                m = bob.messages.get_nowait()
            except Exception:
                break
            assert not m.topic.startswith("$SYS"), m.topic
    finally:
        alice.close()
        bob.close()


def test_patterns_fill_in_client_id_and_user(broker_acl):
    anon = v5_session(broker_acl.tcp_port, "dev-1")
    alice = v5_session(broker_acl.tcp_port, "alice-p", "alice")
    try:
        assert suback_codes(anon, "clients/dev-1/#", "clients/dev-2/#", "inbox/dev-1") == [1, 0x87, 0x87]
        assert suback_codes(alice, "inbox/alice", "inbox/bob") == [1, 0x87]
    finally:
        anon.close()
        alice.close()


def test_sighup_reloads_the_acl_for_existing_connections(request, files, tmp_path):
    pw, _ = files
    acl = tmp_path / "acl"
    acl.write_text("user alice\ntopic readwrite room/#\n")
    b = Broker(f"kite-server-{request.node.name}", ["--password-file", str(pw), "--acl-file", str(acl)])
    try:
        alice = Client(b.tcp_port, "alice-r", username="alice", password="pw")
        alice.subscribe("room/#")
        alice.publish("room/1", b"before", qos=1)
        assert alice.expect().payload == b"before"
        acl.write_text("user alice\ntopic readwrite room/#\ntopic deny room/2\n")
        b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "SIGHUP: reloaded" not in b.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "ACL: 2 rules" in b.log()
        alice.publish("room/2", b"now denied", qos=1)
        alice.publish("room/1", b"still fine", qos=1)
        assert alice.expect().payload == b"still fine"
        alice.expect_none(0.3)
        alice.close()
    finally:
        assert b.stop() == 0


def test_a_bad_acl_file_stops_the_broker_naming_the_line(tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user a\ntopic read a/#\ntopic sometimes a/b/#/c\n")
    r = subprocess.run([KITE, "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--acl-file", str(acl),
                        "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "line 3" in r.stderr, r.stderr
