"""Interop with Debian's mosquitto_pub / mosquitto_sub over TCP."""

import subprocess
import time
import urllib.request


def wait_for_subscriptions(broker, count: int, timeout: float = 10.0) -> None:
    """Wait until the broker's /metrics shows `count` subscriptions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=5).read()
        if f"kite_subscriptions {count}\n".encode() in text:
            return
        time.sleep(0.05)
    raise TimeoutError(f"never saw {count} subscriptions")


def test_mosquitto_sub_receives_what_mosquitto_pub_sends(broker):
    for version in ("mqttv31", "mqttv311", "mqttv5"):
        sub = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.tcp_port), "-i", f"sub-{version}",
             "-V", version, "-t", "interop/#", "-C", "3", "-W", "10", "-v"],
            stdout=subprocess.PIPE, text=True)
        wait_for_subscriptions(broker, 1)
        for qos in (0, 1, 2):
            subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.tcp_port), "-i", f"pub-{version}",
                 "-V", version, "-t", f"interop/q{qos}", "-m", f"m{qos}", "-q", str(qos)],
                check=True, timeout=10)
        out, _ = sub.communicate(timeout=15)
        assert sub.returncode == 0, f"mosquitto_sub ({version}) failed"
        assert out.splitlines() == ["interop/q0 m0", "interop/q1 m1", "interop/q2 m2"], out
        wait_for_subscriptions(broker, 0)


def test_mosquitto_pub_retained_then_mosquitto_sub(broker):
    subprocess.run(["mosquitto_pub", "-p", str(broker.tcp_port), "-t", "r/1", "-m", "kept", "-r"],
                   check=True, timeout=10)
    out = subprocess.run(["mosquitto_sub", "-p", str(broker.tcp_port), "-t", "r/#", "-C", "1",
                          "-W", "5"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "kept"
