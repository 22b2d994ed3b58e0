"""Interop with Debian's mosquitto_pub / mosquitto_sub over TCP."""

import subprocess


def test_mosquitto_sub_receives_what_mosquitto_pub_sends(broker):
    for version in ("mqttv311", "mqttv5"):
        sub = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.tcp_port),
             "-V", version, "-t", "interop/#", "-C", "2", "-W", "10", "-v"],
            stdout=subprocess.PIPE, text=True)
        # Publish until the subscriber (which starts asynchronously) has both messages.
        out = ""
        for attempt in range(50):
            for n in (1, 2):
                subprocess.run(
                    ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.tcp_port),
                     "-V", version, "-t", f"interop/{n}", "-m", f"m{n}", "-q", "1"],
                    check=True, timeout=10)
            try:
                out, _ = sub.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                continue
        assert sub.returncode == 0, f"mosquitto_sub ({version}) failed"
        assert out.splitlines() == ["interop/1 m1", "interop/2 m2"], out


def test_mosquitto_pub_retained_then_mosquitto_sub(broker):
    subprocess.run(["mosquitto_pub", "-p", str(broker.tcp_port), "-t", "r/1", "-m", "kept", "-r"],
                   check=True, timeout=10)
    out = subprocess.run(["mosquitto_sub", "-p", str(broker.tcp_port), "-t", "r/#", "-C", "1",
                          "-W", "5"], capture_output=True, text=True, timeout=10)
    assert out.stdout.strip() == "kept"
