"""The configuration file: every flag as a TOML key, flags win, and an
unknown key or a bad value stops the broker naming the key and the line."""

import socket
import subprocess

from conftest import BIN_DIR, DIST, Process, wait_ready
from raw_mqtt import closed_by_peer, connect, metric, open_session, publish

KITE = str(BIN_DIR / "kite-server")


def run_bad(tmp_path, text, *flags):
    path = tmp_path / "kite.toml"
    path.write_text(text)
    return subprocess.run([KITE, "--config", str(path), *flags], capture_output=True, text=True,
                          timeout=20)


def test_file_settings_apply_and_flags_override_them(tmp_path):
    path = tmp_path / "kite.toml"
    path.write_text(f"""# Kite broker
tcp = "127.0.0.1:0"
http = "127.0.0.1:0"
dashboard_dir = "{DIST}"
data_dir = "{tmp_path / 'data'}"
max_connections = 1
max_packet_size = 100
sys_interval = 0
allow_anonymous = true
""")
    p = Process("kite-server-config-file", [KITE, "--config", str(path), "--max-packet-size", "5000"])
    try:
        ports = wait_ready(p)
        tcp, http = ports["tcp"], ports["http"]
        first = open_session(tcp, connect("one"))
        # max_connections = 1 from the file: a second connection is closed.
        with socket.create_connection(("127.0.0.1", tcp)) as second:
            assert closed_by_peer(second, timeout=3)[0]
        # --max-packet-size 5000 on the command line beats the file's 100.
        first.sendall(publish("t", b"x" * 2000) + bytes([0xC0, 0]))
        first.settimeout(5)
        assert first.recv(2) == bytes([0xD0, 0]), "PINGRESP after a 2 KB publish"
        first.close()
        assert metric(http, "kite_connections_refused_total") >= 1
    finally:
        assert p.stop() == 0


def test_unknown_key_stops_the_broker_with_key_and_line(tmp_path):
    r = run_bad(tmp_path, "max_connections = 10\n\nmax_conections = 5\n")
    assert r.returncode != 0
    assert "kite.toml:3" in r.stderr and "unknown key `max_conections`" in r.stderr, r.stderr


def test_bad_value_stops_the_broker_with_key_and_line(tmp_path):
    r = run_bad(tmp_path, "# limits\nmax_connections = \"lots\"\n")
    assert r.returncode != 0
    assert "kite.toml:2" in r.stderr and "`max_connections`" in r.stderr, r.stderr
    r = run_bad(tmp_path, "tcp = \"not an address\"\n")
    assert r.returncode != 0 and "kite.toml:1" in r.stderr and "`tcp`" in r.stderr, r.stderr
    r = run_bad(tmp_path, "allow_anonymous = \"maybe\"\n")
    assert r.returncode != 0 and "`allow_anonymous`" in r.stderr, r.stderr
    r = run_bad(tmp_path, "max_publish_rate = -3\n")
    assert r.returncode != 0 and "`max_publish_rate`" in r.stderr, r.stderr


def test_every_documented_key_is_a_flag_and_every_flag_is_documented():
    import pathlib
    import re
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \| `--", doc, re.M))
    help_text = subprocess.run([KITE, "--help"], capture_output=True, text=True, timeout=20).stdout
    flags = {f.replace("-", "_") for f in re.findall(r"--([a-z][a-z-]+)", help_text)}
    flags -= {"help", "version", "config"}
    assert flags == documented, f"undocumented: {flags - documented}; not flags: {documented - flags}"
