"""The dashboard in a real headless Chromium against a real broker and
simulated devices: device messages appear in the page, and a publish from
the page's form reaches a native subscriber."""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ARTIFACTS
from mqtt_helpers import Client


def severe_console_errors(browser):
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_device_messages_appear_and_page_publish_reaches_a_native_subscriber(broker, devices, browser):
    # The live message list and the publish form are on the publish page.
    browser.get(broker.url + "#/publish")
    wait = WebDriverWait(browser, 30)
    wait.until(EC.text_to_be_present_in_element((By.ID, "conn-state"), "connected"))
    assert browser.find_element(By.ID, "conn-state").text.strip() == "connected"
    assert browser.find_element(By.ID, "broker-url").get_attribute("value") == \
        f"ws://127.0.0.1:{broker.http_port}/mqtt"

    # Simulated devices publish every 0.5 s under devices/<id>/...
    def device_topics(d):
        # Read in one step in the page: the live list replaces its rows as
        # messages arrive, so element handles go stale.
        topics = d.execute_script(
            "return [...document.querySelectorAll('#messages .msg .msg-topic')].map(e => e.textContent)")
        return [t for t in topics if t.startswith("devices/sim-")]
    wait.until(lambda d: any(t.endswith("/temperature") for t in device_topics(d)))
    assert int(browser.execute_script("return document.getElementById('msg-count').textContent")) > 0

    native = Client(broker.tcp_port, "native-sub")
    native.subscribe("from/dashboard")
    browser.find_element(By.ID, "pub-topic").clear()
    browser.find_element(By.ID, "pub-topic").send_keys("from/dashboard")
    browser.find_element(By.ID, "pub-payload").clear()
    browser.find_element(By.ID, "pub-payload").send_keys("hello from the browser")
    browser.find_element(By.ID, "pub-send").click()
    m = native.expect(timeout=10)
    assert (m.topic, m.payload) == ("from/dashboard", b"hello from the browser")
    native.close()

    time.sleep(0.5)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert severe_console_errors(browser) == []


def test_dashboard_shows_disconnected_when_the_broker_is_gone(request, browser):
    from conftest import Broker
    b = Broker(f"kite-server-{request.node.name}")
    browser.get(b.url)
    wait = WebDriverWait(browser, 30)
    wait.until(EC.text_to_be_present_in_element((By.ID, "conn-state"), "connected"))
    assert b.stop() == 0
    wait.until(lambda d: d.find_element(By.ID, "conn-state").text.strip() in ("disconnected", "connecting"))
    browser.save_screenshot(str(ARTIFACTS / "dashboard-disconnected.png"))
