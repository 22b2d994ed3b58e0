"""TLS: MQTT over TLS (`--tls`), HTTPS and WSS on the HTTP listener,
client certificates (`--client-ca`) and their common name as user name.
Certificates are made with the openssl command-line tool."""

import socket
import ssl
import subprocess
import time
import urllib.request

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import Broker
from mqtt_helpers import Client
from raw_mqtt import closed_by_peer, connect


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=Kite Test CA", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext", cwd=d)
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", *ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/O=Kite/CN=device-1", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "client.crt", "-days", "2", "-extfile", "client.ext", cwd=d)
    return d


class TlsBroker(Broker):
    def __init__(self, name, pki, extra=()):
        super().__init__(name, ["--tls", "127.0.0.1:0",
                                "--cert", str(pki / "server.crt"), "--key", str(pki / "server.key"),
                                *extra])


def tls_options(pki, client_cert=False):
    options = {"ca_certs": str(pki / "ca.crt")}
    if client_cert:
        options.update(certfile=str(pki / "client.crt"), keyfile=str(pki / "client.key"))
    return options


def test_mqtt_over_tls_with_paho_and_mosquitto(request, pki):
    b = TlsBroker(f"kite-server-{request.node.name}", pki)
    try:
        sub = Client(b.tls_port, "tls-sub", tls=tls_options(pki))
        sub.subscribe("secure/#")
        pub = Client(b.tls_port, "tls-pub", paho.MQTTv5, tls=tls_options(pki))
        pub.publish("secure/a", b"over tls", qos=1)
        assert sub.expect().payload == b"over tls"
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.tls_port),
                            "--cafile", str(pki / "ca.crt"), "-t", "secure/b", "-m", "mosq", "-q", "1"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert sub.expect().payload == b"mosq"
        # Plain TCP still works on --tcp, and reaches TLS subscribers.
        Client(b.tcp_port, "plain").publish("secure/c", b"plain", qos=1)
        assert sub.expect().payload == b"plain"
        # Plain MQTT on the TLS port: closed, nothing else affected.
        with socket.create_connection(("127.0.0.1", b.tls_port)) as raw:
            raw.sendall(connect("not-tls"))
            assert closed_by_peer(raw)[0]
        pub.publish("secure/d", b"still", qos=1)
        assert sub.expect().payload == b"still"
        sub.close()
        pub.close()
    finally:
        assert b.stop() == 0


def test_https_and_wss_when_a_certificate_is_given(request, pki):
    b = TlsBroker(f"kite-server-{request.node.name}", pki)
    try:
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        with urllib.request.urlopen(f"https://127.0.0.1:{b.http_port}/metrics", context=context,
                                    timeout=5) as response:
            assert response.status == 200
            assert b"kite_clients_connected" in response.read()
        ws = Client(b.http_port, "wss-client", paho.MQTTv5, transport="websockets",
                    tls=tls_options(pki))
        ws.subscribe("wss/#")
        Client(b.tcp_port, "tcp-pub").publish("wss/x", b"to wss", qos=1)
        assert ws.expect().payload == b"to wss"
        ws.close()
    finally:
        assert b.stop() == 0


def connack_code(port, pki, client_cert, protocol=paho.MQTTv5):
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"cert-{time.monotonic_ns()}",
                    protocol=protocol)
    c.tls_set(**tls_options(pki, client_cert))
    got = {}
    c.on_connect = lambda cl, u, f, reason, p: got.setdefault("rc", reason.value)
    try:
        c.connect("127.0.0.1", port, keepalive=30)
    except (ssl.SSLError, OSError) as err:
        return err
    c.loop_start()
    deadline = time.monotonic() + 5
    while "rc" not in got and time.monotonic() < deadline:
        time.sleep(0.02)
    c.disconnect()
    c.loop_stop()
    return got.get("rc")


def test_client_certificate_common_name_is_the_user(request, pki, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("user device-1\ntopic readwrite devices/device-1/#\n")
    b = TlsBroker(f"kite-server-{request.node.name}", pki,
                  ["--client-ca", str(pki / "ca.crt"), "--use-identity-as-username",
                   "--allow-anonymous", "false", "--acl-file", str(acl)])
    try:
        assert connack_code(b.tls_port, pki, client_cert=True) == 0
        assert connack_code(b.tls_port, pki, client_cert=False) == 0x87
        dev = Client(b.tls_port, "dev", paho.MQTTv5, tls=tls_options(pki, client_cert=True))
        got = {}
        dev.client.on_subscribe = lambda c, u, mid, codes, p: got.setdefault("codes", [x.value for x in codes])
        dev.client.subscribe([("devices/device-1/#", 1), ("devices/device-2/#", 1)])
        deadline = time.monotonic() + 5
        while "codes" not in got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got["codes"] == [1, 0x87]
        dev.publish("devices/device-1/t", b"21.5", qos=1)
        assert dev.expect().payload == b"21.5"
        dev.close()
        # mosquitto_pub with a client certificate.
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.tls_port),
                            "--cafile", str(pki / "ca.crt"), "--cert", str(pki / "client.crt"),
                            "--key", str(pki / "client.key"), "-t", "devices/device-1/m", "-m", "1"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
    finally:
        assert b.stop() == 0


def test_require_certificate_refuses_the_handshake(request, pki):
    b = TlsBroker(f"kite-server-{request.node.name}", pki,
                  ["--client-ca", str(pki / "ca.crt"), "--require-certificate"])
    try:
        assert connack_code(b.tls_port, pki, client_cert=True) == 0
        assert connack_code(b.tls_port, pki, client_cert=False) != 0
        time.sleep(0.2)
        assert "TLS handshake failed" in b.log()
    finally:
        assert b.stop() == 0


def test_a_stalled_handshake_is_closed_at_the_connect_timeout(request, pki):
    b = TlsBroker(f"kite-server-{request.node.name}", pki, ["--connect-timeout", "1"])
    try:
        with socket.create_connection(("127.0.0.1", b.tls_port)) as raw:
            raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
            assert closed_by_peer(raw, timeout=5)[0]
        deadline = time.monotonic() + 2
        while "no TLS handshake within" not in b.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "no TLS handshake within" in b.log()
    finally:
        assert b.stop() == 0


def test_tls_settings_are_checked_at_start(tmp_path, pki):
    from conftest import BIN_DIR
    kite = str(BIN_DIR / "kite-server")
    base = [kite, "--tcp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")]
    r = subprocess.run(base + ["--tls", "127.0.0.1:0"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "--cert" in r.stderr
    r = subprocess.run(base + ["--cert", str(pki / "server.crt"), "--key", str(pki / "client.key")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "do not go together" in r.stderr, r.stderr
