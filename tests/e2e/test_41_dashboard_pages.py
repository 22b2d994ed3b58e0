"""The dashboard's pages in a real headless Chromium against a real broker
with `kite-devices` running: device cards with values, an alarm rule made in
the page raising an alarm on a card and acknowledged from the page, a publish
with MQTT 5 properties reaching a native subscriber, the topic tree showing
a retained message and deleting it, subscriptions and connection profiles.
Every page is kept as a screenshot under target/e2e-artifacts/."""

import json
import time

import paho.mqtt.client as paho
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ARTIFACTS, BIN_DIR, DIST, Broker, Process
from mqtt_helpers import Client


# --- helpers shared with the other dashboard tests ------------------------

def severe_console_errors(browser):
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def shot(browser, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.4)  # let the last batch of updates paint
    browser.save_screenshot(str(ARTIFACTS / f"dashboard-{name}.png"))


def css(browser, selector):
    return browser.find_elements(By.CSS_SELECTOR, selector)


def text_of(browser, selector):
    """The visible text of the first match, read in one step in the page (the
    page re-renders live, so element handles can go stale between calls)."""
    text = browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;", selector)
    return text.strip() if text is not None else None


def attr(browser, selector, name):
    return browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
        selector, name)


def open_page(browser, broker, page="devices", timeout=30):
    """Load the dashboard at `#/<page>` and wait until it is connected."""
    browser.get(f"{broker.url}#/{page}")
    wait = WebDriverWait(browser, timeout)
    wait.until(lambda d: text_of(d, "#conn-state") == "connected")
    return wait


def topics_listed(browser):
    """Topics in the live message list (the rows in view)."""
    return browser.execute_script(
        "return [...document.querySelectorAll('#messages .msg .msg-topic')].map(e => e.textContent)")


def click(browser, selector, timeout=10):
    """Click the first match, again if the page re-rendered it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException
    deadline = time.monotonic() + timeout
    while True:
        try:
            WebDriverWait(browser, timeout).until(lambda d: css(d, selector))
            browser.find_element(By.CSS_SELECTOR, selector).click()
            return
        except StaleElementReferenceException:
            if time.monotonic() > deadline:
                raise


def go(browser, page):
    """Navigate with the page's own navigation bar."""
    click(browser, f'nav a[data-page="{page}"]')
    WebDriverWait(browser, 10).until(lambda d: css(d, f"#page-{page}"))


def fill(browser, element_id, text):
    """Replace a field's text by typing, so the page sees input events
    (WebDriver's clear() sends none)."""
    from selenium.webdriver.common.keys import Keys
    field = browser.find_element(By.ID, element_id)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)
    if text:
        field.send_keys(text)


def select(browser, element_id, value):
    from selenium.webdriver.support.ui import Select
    Select(browser.find_element(By.ID, element_id)).select_by_value(value)


class SysBroker(Broker):
    """A broker that publishes $SYS every second, for the broker page."""

    def __init__(self, name):
        super().__init__(name, ["--sys-interval", "1"])


@pytest.fixture
def sys_broker(request):
    b = SysBroker(f"kite-server-{request.node.name}")
    yield b
    assert b.alive(), "the broker died during the test:\n" + b.log()[-3000:]
    assert b.stop() == 0


@pytest.fixture
def fleet(sys_broker, request):
    """Four simulated devices, one of them through Home Assistant discovery."""
    d = Process(
        f"kite-devices-{request.node.name}",
        [str(BIN_DIR / "kite-devices"), "--broker", f"127.0.0.1:{sys_broker.tcp_port}",
         "--count", "4", "--interval", "0.5", "--ha-share", "0.25"],
    )
    yield d
    d.stop()


# --- tests -------------------------------------------------------------------

def test_device_cards_show_values_units_and_sparklines(sys_broker, fleet, browser):
    open_page(browser, sys_broker, "devices")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: len(css(d, "#devices .device-card")) >= 4)
    # Values with units, from the convention and from HA discovery alike.
    for device in ("sim-1", "sim-4"):
        card = f'#devices .device-card[data-device="{device}"]'
        wait.until(lambda d: text_of(d, f"{card} .m-battery .m-value") not in (None, "", "—"))
        assert text_of(browser, f"{card} .device-status") == "online"
        assert float(text_of(browser, f"{card} .m-temperature .m-value")) > -50
        assert text_of(browser, f"{card} .m-temperature .m-unit") == "°C"
        assert 0 <= float(text_of(browser, f"{card} .m-battery .m-value")) <= 100
        assert text_of(browser, f"{card} .m-battery .m-unit") == "%"
        assert float(text_of(browser, f"{card} .m-signal .m-value")) < 0
        assert text_of(browser, f"{card} .m-signal .m-unit") == "dBm"
    assert css(browser, '.device-card[data-device="sim-4"][data-source="ha"]')
    # Sparklines fill in as readings arrive; "seen" follows live messages.
    wait.until(lambda d: (attr(d, '.device-card[data-device="sim-1"] .m-temperature .spark path', "d")
                          or "").count("L") >= 2)
    assert text_of(browser, '.device-card[data-device="sim-1"] .seen').startswith("seen")
    shot(browser, "devices")

    # A device's page: a chart per measurement, zoomable.
    click(browser, '.device-card[data-device="sim-1"] .device-name')
    wait.until(lambda d: len(css(d, "#page-device .device-chart")) >= 3)
    wait.until(lambda d: (attr(d, '.device-chart[data-measurement="temperature"] .line', "d")
                          or "").count("L") >= 2)
    assert css(browser, '.device-chart[data-measurement="battery"] .ytick')
    assert css(browser, '.device-chart[data-measurement="battery"] .xtick')
    assert text_of(browser, '.device-chart[data-measurement="signal"] .unit') == "dBm"
    click(browser, "#zoom-in")
    click(browser, "#pan-back")
    assert "live" not in text_of(browser, ".toolbar .range")
    click(browser, "#zoom-live")
    assert "live" in text_of(browser, ".toolbar .range")
    shot(browser, "device")

    # Events from devices/<id>/events, with a filter.
    go(browser, "events")
    wait.until(lambda d: css(d, "#event-log .event"))
    select(browser, "event-severity", "critical")
    time.sleep(0.3)
    assert browser.execute_script(
        "return [...document.querySelectorAll('#event-log .event')].every(e => e.classList.contains('sev-critical'))")
    select(browser, "event-severity", "info")
    shot(browser, "events")

    # The broker page: $SYS tiles and charts.
    go(browser, "broker")
    wait.until(lambda d: text_of(d, '.tile[data-stat="clients/connected"] .tile-value') not in (None, "—"))
    assert int(text_of(browser, '.tile[data-stat="clients/connected"] .tile-value')) >= 2
    wait.until(lambda d: text_of(d, '.tile[data-stat="messages in/s"] .tile-value') != "—")
    wait.until(lambda d: "s" in (text_of(d, '.tile[data-stat="uptime"] .tile-value') or ""))
    time.sleep(2)
    shot(browser, "broker")

    # Phone width, dark theme.
    browser.set_window_size(390, 844)
    go(browser, "devices")
    shot(browser, "phone-devices")
    click(browser, "#theme-btn")  # auto -> light
    click(browser, "#theme-btn")  # light -> dark
    assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
    shot(browser, "phone-devices-dark")
    browser.set_window_size(1280, 900)
    shot(browser, "devices-dark")
    assert severe_console_errors(browser) == []


def test_a_rule_made_in_the_page_raises_an_alarm_on_the_card_and_is_acknowledged(broker, devices, browser):
    # A device of our own whose battery we control, next to the simulated ones.
    device = Client(broker.tcp_port, "e2e-1")
    device.publish("devices/e2e-1/status", "online", qos=1, retain=True)
    device.publish("devices/e2e-1/telemetry", json.dumps({"temperature": 21, "battery": 80, "signal": -60}))
    watcher = Client(broker.tcp_port, "e2e-watcher")
    watcher.subscribe("$kite/alarms/active/e2e-1/#", qos=1)

    wait = open_page(browser, broker, "alarms")
    click(browser, ".preset")  # low-battery preset
    fill(browser, "rule-id", "e2e-low-battery")
    fill(browser, "rule-device", "e2e-*")
    fill(browser, "rule-threshold", "20")
    fill(browser, "rule-message", "battery low (e2e)")
    click(browser, "#rule-save")
    wait.until(lambda d: css(d, '#rules .rule[data-rule="e2e-low-battery"]'))
    assert "battery < 20 on e2e-*" in text_of(browser, '#rules .rule[data-rule="e2e-low-battery"]')
    assert "error" not in attr(browser, "#rule-status", "class")

    # The battery drops below the threshold: the broker raises the alarm.
    device.publish("devices/e2e-1/telemetry", json.dumps({"temperature": 21, "battery": 12, "signal": -60}))
    wait.until(lambda d: css(d, '#active-alarms .alarm[data-device="e2e-1"][data-rule="e2e-low-battery"]'))
    assert text_of(browser, "#nav-alarm-count") == "1"

    # The card shows it.
    go(browser, "devices")
    card = '.device-card[data-device="e2e-1"]'
    wait.until(lambda d: css(d, f"{card}.alarm"))
    assert "battery low (e2e)" in text_of(browser, f"{card} .card-alarm")
    assert text_of(browser, f"{card} .m-battery .m-value") == "12"
    shot(browser, "devices-alarm")

    # Acknowledge from the alarms page, under a name.
    go(browser, "alarms")
    fill(browser, "ack-name", "e2e-operator")
    click(browser, '.alarm[data-device="e2e-1"] .alarm-ack')
    wait.until(lambda d: "e2e-operator" in (text_of(d, '.alarm[data-device="e2e-1"] .alarm-acked') or ""))
    # The broker holds the acknowledgement, for every client.
    deadline = time.monotonic() + 10
    acked = None
    while time.monotonic() < deadline and acked is None:
        m = watcher.expect(timeout=10)
        if m.payload and json.loads(m.payload).get("acknowledged_by"):
            acked = json.loads(m.payload)
    assert acked and acked["acknowledged_by"] == "e2e-operator"
    # History: raised, then acknowledged.
    wait.until(lambda d: css(d, "#alarm-history .hist.acknowledged"))
    assert css(browser, "#alarm-history .hist.raised")
    shot(browser, "alarms")

    # Battery replaced: the alarm clears (past threshold + hysteresis).
    device.publish("devices/e2e-1/telemetry", json.dumps({"temperature": 21, "battery": 95, "signal": -60}))
    wait.until(lambda d: not css(d, '#active-alarms .alarm[data-device="e2e-1"]'))
    wait.until(lambda d: css(d, "#alarm-history .hist.cleared"))

    # Delete the rule from the page.
    click(browser, '.rule[data-rule="e2e-low-battery"] .rule-delete')
    wait.until(lambda d: not css(d, '.rule[data-rule="e2e-low-battery"]'))
    device.close()
    watcher.close()
    assert severe_console_errors(browser) == []


def test_a_publish_with_v5_properties_reaches_a_native_subscriber(broker, browser):
    native = Client(broker.tcp_port, "native-v5", protocol=paho.MQTTv5)
    native.subscribe("from/dashboard/#", qos=1)
    wait = open_page(browser, broker, "publish")
    fill(browser, "pub-topic", "from/dashboard/props")
    fill(browser, "pub-payload", '{"hello":"v5"}')
    select(browser, "pub-qos", "1")
    click(browser, "#pub-props summary")
    fill(browser, "pub-content-type", "application/json")
    fill(browser, "pub-response-topic", "from/native/reply")
    fill(browser, "pub-expiry", "300")
    fill(browser, "pub-user-props", "source=dashboard\nteam=ops")
    click(browser, "#pub-send")
    m = native.expect(timeout=10)
    assert (m.topic, m.payload) == ("from/dashboard/props", b'{"hello":"v5"}')
    assert m.qos == 1
    props = m.properties
    assert props.ContentType == "application/json"
    assert props.ResponseTopic == "from/native/reply"
    assert 0 < props.MessageExpiryInterval <= 300
    assert ("source", "dashboard") in props.UserProperty and ("team", "ops") in props.UserProperty
    wait.until(lambda d: "acknowledged" in text_of(d, "#pub-status"))

    # QoS 2 both ways: a QoS 2 subscription in the page, a QoS 2 publish to it.
    fill(browser, "sub-filter", "e2e/qos2/+")
    select(browser, "sub-qos", "2")
    click(browser, "#sub-add")
    wait.until(lambda d: text_of(d, '#subs .sub[data-filter="e2e/qos2/+"] .sub-state') == "granted QoS 2")
    native.publish("e2e/qos2/x", "exactly once", qos=2)
    wait.until(lambda d: "e2e/qos2/x" in topics_listed(d))
    fill(browser, "pub-topic", "from/dashboard/qos2")
    fill(browser, "pub-payload", "two")
    select(browser, "pub-qos", "2")
    click(browser, "#pub-send")
    m = native.expect(timeout=10)
    assert (m.topic, m.payload) == ("from/dashboard/qos2", b"two")
    wait.until(lambda d: "acknowledged" in text_of(d, "#pub-status"))
    click(browser, '#subs .sub[data-filter="e2e/qos2/+"] .sub-remove')
    wait.until(lambda d: not css(d, '#subs .sub[data-filter="e2e/qos2/+"]'))
    shot(browser, "publish")
    native.close()
    assert severe_console_errors(browser) == []


def test_the_topic_tree_shows_a_retained_message_and_deletes_it(broker, devices, browser):
    native = Client(broker.tcp_port, "native-retain")
    native.publish("e2e/retained/one", '{"kept":true,"n":[1,2,3]}', qos=1, retain=True)
    native.close()
    wait = open_page(browser, broker, "topics")
    fill(browser, "topic-filter", "e2e/retained")
    row = '#topic-tree .topic-row[data-topic="e2e/retained/one"]'
    wait.until(lambda d: css(d, f"{row} .t-retained"))
    assert css(browser, '#topic-tree .topic-row[data-topic="e2e"]'), "ancestors shown"
    click(browser, row)
    wait.until(lambda d: text_of(d, "#topic-path") == "e2e/retained/one")
    assert '"kept": true' in text_of(browser, "#topic-history .payload")  # JSON pretty-printed
    click(browser, "#view-hex")
    assert text_of(browser, "#topic-history .payload").startswith("00000000  7b 22 6b 65")
    click(browser, "#view-json")
    click(browser, "#topic-copy")
    wait.until(lambda d: text_of(d, "#topic-copy") == "Copied")
    fill(browser, "topic-filter", "")
    # Open the devices branch too, for the screenshot.
    click(browser, '.topic-row[data-topic="devices"] .t-toggle')
    wait.until(lambda d: css(d, '.topic-row[data-topic="devices/sim-1"]'))
    shot(browser, "topics")

    click(browser, "#topic-delete-retained")
    wait.until(lambda d: not css(d, f"{row} .t-retained"))
    # The broker no longer holds it: a new subscriber gets nothing.
    late = Client(broker.tcp_port, "native-late")
    late.subscribe("e2e/retained/#")
    late.expect_none(timeout=1.0)
    late.close()
    assert severe_console_errors(browser) == []


def test_connection_profiles_are_saved_and_used(broker, browser):
    wait = open_page(browser, broker, "connection")
    fill(browser, "cp-name", "lab-v3")
    fill(browser, "cp-client-id", "e2e-dash-v3")
    select(browser, "cp-protocol", "3.1.1")
    fill(browser, "cp-keepalive", "15")
    fill(browser, "cp-will-topic", "dash/e2e-dash-v3/status")
    fill(browser, "cp-will-payload", "gone")
    click(browser, "#cp-connect")
    wait.until(lambda d: "connected as e2e-dash-v3" in (text_of(d, "#cp-session") or ""))
    assert text_of(browser, "#conn-state") == "connected"
    shot(browser, "connection")

    # Leaving the page drops the connection without DISCONNECT: the broker
    # publishes the profile's last will.
    native = Client(broker.tcp_port, "native-will")
    native.subscribe("dash/+/status")
    browser.get("about:blank")
    # (Chromium takes its time to close the socket of a page left behind.)
    m = native.expect(timeout=40)
    assert (m.topic, m.payload) == ("dash/e2e-dash-v3/status", b"gone")
    native.close()

    # Saved in localStorage: still there, and used, when coming back.
    browser.get(f"{broker.url}#/connection")
    wait.until(lambda d: text_of(d, "#conn-state") == "connected")
    wait.until(lambda d: "connected as e2e-dash-v3" in (text_of(d, "#cp-session") or ""))
    names = browser.execute_script(
        "return [...document.querySelectorAll('#cp-profiles option')].map(o => o.value)")
    assert names == ["default", "lab-v3"]

    # Disconnect on purpose: no reconnect; then back to the default profile.
    click(browser, "#cp-disconnect")
    wait.until(lambda d: text_of(d, "#conn-state") == "disconnected")
    time.sleep(2)
    assert text_of(browser, "#conn-state") == "disconnected"
    select(browser, "cp-profiles", "default")
    click(browser, "#cp-connect")
    wait.until(lambda d: text_of(d, "#conn-state") == "connected")
    assert severe_console_errors(browser) == []


def test_reconnects_with_backoff_and_resubscribes(request, browser):
    """The broker goes away and comes back on the same ports: the header shows
    the countdown, the page reconnects by itself and subscribes again."""
    b = Broker(f"kite-server-{request.node.name}")
    wait = open_page(browser, b, "publish")
    wait.until(lambda d: text_of(d, '#subs .sub[data-filter="#"] .sub-state') == "granted QoS 0")
    assert b.stop() == 0
    wait.until(lambda d: text_of(d, "#conn-state") in ("disconnected", "connecting"))
    wait.until(lambda d: (text_of(d, "#conn-retry") or "").startswith("retry in"))
    shot(browser, "reconnecting")
    # Same ports again.
    again = Broker(f"kite-server-{request.node.name}-again",
                   tcp_port=b.tcp_port, http_port=b.http_port)
    try:
        WebDriverWait(browser, 60).until(lambda d: text_of(d, "#conn-state") == "connected")
        wait.until(lambda d: text_of(d, '#subs .sub[data-filter="#"] .sub-state') == "granted QoS 0")
        native = Client(again.tcp_port, "native-after")
        native.publish("after/reconnect", "still here")
        wait.until(lambda d: "after/reconnect" in topics_listed(d))
        native.close()
    finally:
        assert again.stop() == 0


def test_credentials_from_the_connection_page(request, browser, tmp_path):
    """A broker that wants a password: refused without one (the error shows),
    connected once the profile has the user's credentials."""
    import subprocess
    users = tmp_path / "users"
    subprocess.run([str(BIN_DIR / "kite-server"), "passwd", str(users), "dash", "--password-stdin"],
                   input="s3cret\n", text=True, check=True, capture_output=True, timeout=60)
    b = Broker(f"kite-server-{request.node.name}",
               ["--password-file", str(users), "--allow-anonymous", "false"])
    try:
        browser.get(f"{b.url}#/connection")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda d: "refused" in (text_of(d, "#last-error") or ""))
        assert text_of(browser, "#conn-state") in ("disconnected", "connecting")
        fill(browser, "cp-username", "dash")
        fill(browser, "cp-password", "wrong")
        click(browser, "#cp-connect")
        wait.until(lambda d: "refused" in (text_of(d, "#last-error") or ""))
        assert text_of(browser, "#conn-state") != "connected"
        fill(browser, "cp-password", "s3cret")
        click(browser, "#cp-connect")
        wait.until(lambda d: text_of(d, "#conn-state") == "connected")
        assert text_of(browser, "#last-error") is None
        assert severe_console_errors(browser) == []
    finally:
        assert b.stop() == 0
