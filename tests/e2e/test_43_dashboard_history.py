"""The dashboard opens with the past: a page opened after devices have
reported asks the broker's history (`$kite/history/query`, the answer on
`$kite/history/reply/<client-id>`) and shows, before any live reading,
every device's last values and their age on its card, a device page's
charts from before the page opened (and live readings continuing them,
each reading once), and the events page's events from before it opened
(device events and alarm events, filtered and paged by the history).
The devices are stopped before the page opens, so whatever the page
shows of them can only have come from the history. Screenshots under
target/e2e-artifacts/dashboard-history-*.png."""

import json
import time
import urllib.request

from selenium.webdriver.support.ui import WebDriverWait

from conftest import BIN_DIR, Process
from test_41_dashboard_pages import sys_broker  # noqa: F401  (the fixture)
from mqtt_helpers import Client
from test_41_dashboard_pages import attr, click, css, go, open_page, select, severe_console_errors, shot, text_of, fill

DEVICES = ("sim-1", "sim-2", "sim-3")


def start_fleet(broker, name):
    """kite-devices: sim-1 … sim-3 (Kite convention), a reading every 0.5 s."""
    return Process(name, [str(BIN_DIR / "kite-devices"), "--broker", f"127.0.0.1:{broker.tcp_port}",
                          "--count", "3", "--interval", "0.5", "--ha-share", "0"])


def history(broker, **params):
    """The history's answer over HTTP (the same JSON as over MQTT)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{broker.url}api/history?{query}", timeout=10) as r:
        return json.loads(r.read())


def now_ms():
    return int(time.time() * 1000)


def chart_points(browser, measurement="temperature"):
    return int(attr(browser, f'.device-chart[data-measurement="{measurement}"]', "data-points") or 0)


def chart_first(browser, measurement="temperature"):
    first = attr(browser, f'.device-chart[data-measurement="{measurement}"]', "data-first")
    return int(first) if first else None


def event_texts(browser):
    return browser.execute_script(
        "return [...document.querySelectorAll('#event-log .event')].map(e => e.innerText)")


def test_cards_and_charts_open_with_the_past_and_live_readings_continue_them(broker, browser, request):
    fleet = start_fleet(broker, f"kite-devices-{request.node.name}")
    time.sleep(4)
    fleet.stop()
    last = {d["device"]: d for d in history(broker, op="last")["devices"]}
    assert set(DEVICES) <= set(last), last

    opened = now_ms()
    wait = open_page(browser, broker, "devices")
    connected = time.monotonic()
    # Values and their age at once, with no device publishing.
    for device in DEVICES:
        card = f'#devices .device-card[data-device="{device}"]'
        wait.until(lambda d: text_of(d, f"{card} .m-temperature .m-value") not in (None, "", "—"))
    assert time.monotonic() - connected < 5, "the last values came late"
    for device in DEVICES:
        card = f'#devices .device-card[data-device="{device}"]'
        values = browser.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' .m-value')].map(e => e.textContent)", card)
        assert len(values) >= 3 and "—" not in values, f"{device}: {values}"
        assert text_of(browser, f"{card} .seen").startswith("seen "), text_of(browser, f"{card} .seen")
        assert text_of(browser, f"{card} .m-temperature .m-unit") == "°C"
        expected = {m["measurement"]: m["value"] for m in last[device]["measurements"]}
        assert abs(float(text_of(browser, f"{card} .m-temperature .m-value")) - expected["temperature"]) < 0.006
        assert abs(float(text_of(browser, f"{card} .m-battery .m-value")) - expected["battery"]) < 0.006
        # The sparkline draws the history's day.
        wait.until(lambda d: "L" in (attr(d, f"{card} .m-temperature .spark path", "d") or ""))
    shot(browser, "history-devices")

    # A device page: its charts hold readings from before the page opened.
    click(browser, '.device-card[data-device="sim-1"] .device-name')
    wait.until(lambda d: chart_points(d) >= 1)
    assert chart_first(browser) < opened
    assert text_of(browser, "#page-device .seen").startswith("seen ")
    value = text_of(browser, '.device-chart[data-measurement="temperature"] .m-value')
    assert abs(float(value) - {m["measurement"]: m["value"] for m in last["sim-1"]["measurements"]}["temperature"]) < 0.006
    assert "active" in attr(browser, "#range-24h", "class")
    shot(browser, "history-device-24h")

    # The last hour comes as raw readings: every one the history holds, once.
    click(browser, "#range-1h")
    raw = history(broker, op="series", devices="sim-1", measurements="temperature", **{"from": "-1h"},
                  resolution="raw")["series"][0]["points"]
    assert len(raw) >= 6, raw
    wait.until(lambda d: chart_points(d) == len(raw))
    assert chart_first(browser) == raw[0][0] < opened

    # Live readings continue the same chart.
    fleet = start_fleet(broker, f"kite-devices-{request.node.name}-again")
    wait.until(lambda d: chart_points(d) >= len(raw) + 6)
    assert chart_first(browser) == raw[0][0]
    for _ in range(6):  # an hour down to a minute: the junction in view
        click(browser, "#zoom-in")
    time.sleep(2)
    shot(browser, "history-device-junction")
    # Asked again while live readings come: the history's copies of the
    # readings heard live are dropped. Once the devices stop, the chart
    # holds exactly what the history holds: nothing twice, nothing lost
    # where the history's points meet the live ones.
    click(browser, "#range-1h")
    time.sleep(2)
    fleet.stop()
    deadline = time.monotonic() + 10
    while True:
        time.sleep(1)
        held = history(broker, op="series", devices="sim-1", measurements="temperature", **{"from": "-1h"},
                       resolution="raw")["series"][0]["points"]
        shown = chart_points(browser)
        if shown == len(held) or time.monotonic() > deadline:
            break
    assert shown == len(held), f"the page draws {shown} readings, the history holds {len(held)}"
    assert chart_first(browser) == held[0][0]
    assert severe_console_errors(browser) == []


def test_the_events_page_opens_with_the_past_filters_and_pages_back(broker, browser):
    door = Client(broker.tcp_port, "e2e-door")
    door.publish("devices/e2e-door/status", "online", qos=1, retain=True)
    for i in range(150):
        severity = "warning" if i % 2 else "info"
        door.publish("devices/e2e-door/events",
                     json.dumps({"type": "door_opened", "severity": severity,
                                 "message": f"Back door opened #{i}"}), qos=1)
    # An alarm raised before the page opens: an alarm event in the history.
    admin = Client(broker.tcp_port, "e2e-admin")
    admin.publish("$kite/alarms/rules/e2e-battery", json.dumps(
        {"device": "e2e-door", "measurement": "battery", "condition": "<", "threshold": 20,
         "severity": "critical", "message": "battery low before the page"}), qos=1, retain=True)
    time.sleep(0.5)
    door.publish("devices/e2e-door/battery", "10", qos=1)
    deadline = time.monotonic() + 10
    while not history(broker, op="events", devices="e2e-door", severity="critical")["events"]:
        assert time.monotonic() < deadline, "no alarm event in the history"
        time.sleep(0.2)

    wait = open_page(browser, broker, "events")
    wait.until(lambda d: len(css(d, '#event-log .event[data-device="e2e-door"]')) >= 100)
    texts = event_texts(browser)
    assert any("alarm_raised" in t and "battery low before the page" in t for t in texts), texts[:5]
    assert css(browser, '#event-log .event[data-source="alarm"][data-device="e2e-door"].sev-critical')
    assert "Back door opened #149" in "".join(texts)
    assert "Back door opened #0" not in "".join(texts), "the oldest are on a later page"
    assert not css(browser, "#event-log .event.live"), "all of these came from the history"
    assert "older ones on request" in text_of(browser, "#event-status")

    # Paged by the history: 100, then the older ones, then no more.
    wait.until(lambda d: css(d, '#event-device option[value="e2e-door"]'))
    select(browser, "event-device", "e2e-door")
    wait.until(lambda d: len(css(d, "#event-log .event")) == 100 and css(d, "#event-older"))
    click(browser, "#event-older")
    wait.until(lambda d: len(css(d, "#event-log .event")) == 151)
    wait.until(lambda d: not css(d, "#event-older"))
    assert "Back door opened #0" in "".join(event_texts(browser))
    assert "all of it" in text_of(browser, "#event-status")

    # Filtered by the history: severity, then text.
    select(browser, "event-severity", "critical")
    wait.until(lambda d: len(css(d, "#event-log .event")) == 1)
    assert css(browser, '#event-log .event[data-source="alarm"].sev-critical')
    select(browser, "event-severity", "info")
    fill(browser, "event-text", "opened #142")
    wait.until(lambda d: len(css(d, "#event-log .event")) == 1)
    assert "Back door opened #142" in event_texts(browser)[0]
    fill(browser, "event-text", "")
    wait.until(lambda d: len(css(d, "#event-log .event")) == 100)

    # New events appear on top as they happen.
    door.publish("devices/e2e-door/events",
                 json.dumps({"type": "door_closed", "message": "Back door closed (live)"}), qos=1)
    wait.until(lambda d: "Back door closed (live)" in (event_texts(d) or [""])[0])
    assert css(browser, "#event-log .event.live")
    assert len(css(browser, "#event-log .event")) == 101
    shot(browser, "history-events")
    door.close()
    admin.close()
    assert severe_console_errors(browser) == []


def test_an_mqtt_3_1_1_page_gets_its_answers_on_its_reply_topic(broker, browser, request):
    fleet = start_fleet(broker, f"kite-devices-{request.node.name}")
    time.sleep(3)
    fleet.stop()
    # Without MQTT 5 there is no response topic and no correlation data:
    # the broker answers on $kite/history/reply/<client-id>, one question
    # at a time. Connecting with another profile starts the page afresh.
    wait = open_page(browser, broker, "connection")
    fill(browser, "cp-name", "history-v3")
    fill(browser, "cp-client-id", "e2e-hist-v3")
    select(browser, "cp-protocol", "3.1.1")
    click(browser, "#cp-connect")
    wait.until(lambda d: "connected as e2e-hist-v3" in (text_of(d, "#cp-session") or ""))
    go(browser, "devices")
    for device in DEVICES:
        card = f'#devices .device-card[data-device="{device}"]'
        wait.until(lambda d: text_of(d, f"{card} .m-temperature .m-value") not in (None, "", "—"))
        assert text_of(browser, f"{card} .seen").startswith("seen ")
    go(browser, "publish")
    reply = '#subs .sub[data-filter="$kite/history/reply/e2e-hist-v3"]'
    wait.until(lambda d: text_of(d, f"{reply} .sub-state") == "granted QoS 1")
    go(browser, "events")
    wait.until(lambda d: "from the history" in (text_of(d, "#event-status") or ""))
    shot(browser, "history-v311-events")
    assert severe_console_errors(browser) == []


def test_the_broker_page_opens_with_the_brokers_own_past(sys_broker, browser):
    """The history keeps the broker's $SYS statistics (device `$SYS`): the
    broker page, opened after the broker ran a while, charts them from
    before it opened, and live samples continue the charts."""
    time.sleep(6)
    stats = history(sys_broker, devices="$SYS", measurements="clients/connected", resolution="raw")
    assert stats["series"] and len(stats["series"][0]["points"]) >= 3, stats
    opened = now_ms()
    open_page(browser, sys_broker, "broker")
    wait = WebDriverWait(browser, 15)
    chart = '.sys-chart[data-series="clients/connected"]'
    wait.until(lambda d: int(attr(d, chart, "data-points") or 0) >= 3)
    first = int(attr(browser, chart, "data-first"))
    assert first < opened - 3000, f"the chart starts {opened - first} ms before the page opened"
    rates = '.sys-chart[data-series="messages in/s"]'
    wait.until(lambda d: int(attr(d, rates, "data-points") or 0) >= 2)
    before = int(attr(browser, chart, "data-points"))
    wait.until(lambda d: int(attr(d, chart, "data-points") or 0) > before)
    shot(browser, "history-broker")
    assert severe_console_errors(browser) == []
