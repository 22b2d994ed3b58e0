"""The administration pages in a real headless Chromium, speaking the
broker's `$CONTROL/kite/v1` API over the dashboard's own MQTT connection:
logged in as an administrator, the Bridges page creates a bridge to a real
Debian Mosquitto, shows it connected with its sent count and rate rising
while messages published on Kite reach a `mosquitto_sub` on the far side,
and puts a bad pattern's error next to the pattern field; the Users page
creates a role and a user who then receives with `mosquitto_sub`, and lists
who is connected under which user. Without administrator rights both pages
say so and what to do. Screenshots `dashboard-admin-*.png`."""

import socket
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as paho
import pytest
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ARTIFACTS, BIN_DIR, Broker, Process
from mqtt_helpers import Client
from test_41_dashboard_pages import click, css, fill, go, select, severe_console_errors, shot, text_of

ADMIN, ADMIN_PW = "admin", "adm1n-pw"

ACL = """\
user admin
topic readwrite $CONTROL/kite/#
topic readwrite $kite/#
topic read $SYS/#
topic readwrite #

user viewer
topic read $CONTROL/kite/#
topic readwrite $kite/#
topic read $SYS/#
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def admin_broker(request, tmp_path):
    users = tmp_path / "users"
    for user, password in [(ADMIN, ADMIN_PW), ("viewer", "v1ewer")]:
        subprocess.run([str(BIN_DIR / "kite-server"), "passwd", str(users), user, "--password-stdin"],
                       input=f"{password}\n", text=True, check=True, capture_output=True, timeout=60)
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    b = Broker(f"kite-server-{request.node.name}",
               ["--password-file", str(users), "--acl-file", str(acl), "--sys-interval", "1"])
    yield b
    assert b.alive(), "the broker died during the test:\n" + b.log()[-3000:]
    assert b.stop() == 0


@pytest.fixture
def mosquitto(request):
    """Debian's Mosquitto on a free port, anonymous, nothing written to disk."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="kite-mosquitto-")
    conf = f"{folder}/mosquitto.conf"
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    p = Process(f"mosquitto-{request.node.name}", ["/usr/sbin/mosquitto", "-c", conf])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert p.alive() and time.monotonic() < deadline, p.log()
            time.sleep(0.05)
    p.port = port
    yield p
    p.stop()


def log_in(browser, broker, user=ADMIN, password=ADMIN_PW):
    """Open the connection page, give the credentials, wait until connected."""
    browser.get(f"{broker.url}#/connection")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: css(d, "#cp-username"))
    fill(browser, "cp-username", user)
    fill(browser, "cp-password", password)
    click(browser, "#cp-connect")
    wait.until(lambda d: text_of(d, "#conn-state") == "connected")
    return wait


def number(browser, selector):
    text = text_of(browser, selector)
    return int(text) if text not in (None, "") else -1


def test_a_bridge_made_in_the_page_carries_messages_to_mosquitto(admin_broker, mosquitto, browser):
    wait = log_in(browser, admin_broker)
    go(browser, "bridges")
    wait.until(lambda d: "No bridges" in (text_of(d, "#page-bridges") or ""))
    assert css(browser, "#control-problem") == []

    fill(browser, "br-name", "far")
    fill(browser, "br-addresses", f"127.0.0.1:{mosquitto.port}")
    fill(browser, "br-pattern-0", "sensors/#")
    select(browser, "br-direction-0", "out")
    select(browser, "br-qos-0", "1")
    fill(browser, "br-remote-0", "site1/")
    click(browser, "#br-save")
    wait.until(lambda d: text_of(d, "#br-status") == "bridge saved")
    row = '#bridges .bridge[data-bridge="far"]'
    wait.until(lambda d: text_of(d, f"{row} .bridge-state") == "connected")
    assert text_of(browser, f"{row} .bridge-source") == "live"

    far = subprocess.Popen(["mosquitto_sub", "-p", str(mosquitto.port), "-t", "site1/sensors/#", "-v",
                            "-C", "20", "-W", "60"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let it subscribe
    publisher = Client(admin_broker.tcp_port, "kite-pub", username=ADMIN, password=ADMIN_PW)
    stop = threading.Event()

    def publish():
        i = 0
        while not stop.is_set():
            publisher.publish(f"sensors/t{i % 3}", f"{i}", qos=1)
            i += 1
            time.sleep(0.1)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        out, _ = far.communicate(timeout=60)
        lines = out.splitlines()
        assert len(lines) == 20, out
        assert all(line.startswith("site1/sensors/t") for line in lines), out
        # The page's count rises, and so does its rate.
        wait.until(lambda d: number(d, f"{row} .bridge-sent") >= 20)
        first = number(browser, f"{row} .bridge-sent")
        wait.until(lambda d: number(d, f"{row} .bridge-sent") > first)
        wait.until(lambda d: (text_of(d, f"{row} .bridge-sent-rate") or "—") not in ("—", "0.0 msg/s"))
        rate = float(text_of(browser, f"{row} .bridge-sent-rate").split()[0])
        assert 2 <= rate <= 30, rate
        shot(browser, "admin-bridges")
    finally:
        stop.set()
        thread.join(5)
        publisher.close()

    # Pause, then resume.
    click(browser, f"{row} .bridge-pause")
    wait.until(lambda d: text_of(d, f"{row} .bridge-state") == "paused")
    click(browser, f"{row} .bridge-pause")
    wait.until(lambda d: text_of(d, f"{row} .bridge-state") == "connected")

    # A bad pattern: the broker's error shows next to the pattern field, and nothing is made.
    click(browser, "#br-new")
    fill(browser, "br-name", "bad")
    fill(browser, "br-addresses", f"127.0.0.1:{mosquitto.port}")
    fill(browser, "br-pattern-0", "a/#/b")
    click(browser, "#br-save")
    error = '.br-topic[data-index="0"] .field-error[data-field="bridge.topic[0].pattern"]'
    wait.until(lambda d: css(d, error))
    assert "a/#/b" in text_of(browser, error), text_of(browser, error)
    assert text_of(browser, "#br-status") == "see the marked fields"
    assert css(browser, '#bridges .bridge[data-bridge="bad"]') == []
    shot(browser, "admin-bridge-error")

    # Delete the good one.
    click(browser, f"{row} .bridge-delete")
    wait.until(lambda d: css(d, row) == [])
    assert severe_console_errors(browser) == []


def test_a_user_made_in_the_page_connects_with_mosquitto_sub(admin_broker, browser):
    wait = log_in(browser, admin_broker)
    go(browser, "users")
    # The dashboard itself is listed, connected as admin.
    wait.until(lambda d: css(d, '#sessions-by-user .by-user[data-user="admin"]'))
    assert number(browser, "#sessions-connected") >= 1
    assert css(browser, "#control-problem") == []

    # A role allowing everything.
    fill(browser, "r-rolename", "everything")
    select(browser, "r-acltype-0", "publishClientSend")
    fill(browser, "r-topic-0", "#")
    click(browser, "#r-add-acl")
    wait.until(lambda d: css(d, "#r-topic-1"))
    select(browser, "r-acltype-1", "subscribePattern")
    fill(browser, "r-topic-1", "#")
    click(browser, "#r-save")
    wait.until(lambda d: text_of(d, "#r-status") == "role saved")
    wait.until(lambda d: css(d, '#roles .role[data-role="everything"]'))

    # A user name the broker refuses: the error is next to the field.
    fill(browser, "u-username", "bad:name")
    fill(browser, "u-password", "pw")
    click(browser, "#u-save")
    wait.until(lambda d: css(d, '.field-error[data-field="username"]'))

    fill(browser, "u-username", "carol")
    fill(browser, "u-password", "c4rol")
    fill(browser, "u-roles", "everything")
    click(browser, "#u-save")
    wait.until(lambda d: text_of(d, "#u-status") == "user saved")
    assert css(browser, '.field-error[data-field="username"]') == []
    user = '#users .user[data-user="carol"]'
    wait.until(lambda d: css(d, user))
    assert text_of(browser, f"{user} .user-roles") == "everything"

    sub = subprocess.Popen(["mosquitto_sub", "-p", str(admin_broker.tcp_port), "-u", "carol", "-P", "c4rol",
                            "-i", "carol-sub", "-t", "x/#", "-C", "1", "-W", "30", "-v"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The page lists carol's client, connected under her name, with its subscription.
    wait.until(lambda d: text_of(d, '#sessions .session[data-client="carol-sub"] .s-user') == "carol")
    wait.until(lambda d: text_of(d, '#sessions .session[data-client="carol-sub"] .s-subs') == "1")
    assert "carol-sub" in text_of(browser, '#sessions-by-user .by-user[data-user="carol"]')
    wait.until(lambda d: text_of(d, f"{user} .user-connected") == "1")
    publisher = Client(admin_broker.tcp_port, "x-pub", username=ADMIN, password=ADMIN_PW)
    try:
        publisher.publish("x/1", "hello carol", qos=1)
        out, err = sub.communicate(timeout=30)
    finally:
        publisher.close()
    assert sub.returncode == 0, err
    assert out.strip() == "x/1 hello carol", (out, err)
    shot(browser, "admin-users")
    assert severe_console_errors(browser) == []


def test_without_administrator_rights_the_pages_say_what_to_do(admin_broker, browser):
    # Anonymous (allowed on loopback): the ACL file gives it nothing.
    browser.get(f"{admin_broker.url}#/bridges")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: text_of(d, "#conn-state") == "connected")
    wait.until(lambda d: "Connect as an administrator" in (text_of(d, "#control-problem") or ""))
    shot(browser, "admin-refused")
    go(browser, "users")
    assert "Connect as an administrator" in (text_of(browser, "#control-problem") or "")
    # A user who may read the responses but not send requests: the broker's
    # PUBACK refuses the request (MQTT 5), and the page says so.
    log_in(browser, admin_broker, "viewer", "v1ewer")
    go(browser, "users")
    wait.until(lambda d: "refused the request" in (text_of(d, "#control-problem") or ""))
    assert "Connect as an administrator" in text_of(browser, "#control-problem")
    assert severe_console_errors(browser) == []
