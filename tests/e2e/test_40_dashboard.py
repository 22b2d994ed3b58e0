"""The dashboard in a real headless Chromium against a real broker and
simulated devices: device messages appear in the page, and a publish from
the page's form reaches a native subscriber. And the files of the page as
the broker serves them: gzip-compressed to browsers that accept it."""

import gzip
import time
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ARTIFACTS, DIST
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


def test_the_dashboard_goes_gzip_compressed_to_browsers_that_accept_it(broker):
    """The wasm (most of the page's weight) and the page itself are sent as
    their precompressed `.gz` copies when the request accepts gzip, plain
    otherwise; both decode to the built file."""
    wasm = max(DIST.glob("*.wasm"), key=lambda f: f.stat().st_size)

    def get(path, accept_gzip):
        headers = {"Accept-Encoding": "gzip"} if accept_gzip else {}
        request = urllib.request.Request(f"http://127.0.0.1:{broker.http_port}/{path}",
                                         headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return (response.headers.get("Content-Encoding"),
                    response.headers.get("Content-Type"), response.read())

    encoding, content_type, body = get(wasm.name, True)
    assert (encoding, content_type) == ("gzip", "application/wasm")
    print(f"\n{wasm.name}: {wasm.stat().st_size} bytes, {len(body)} sent gzipped")
    assert len(body) < wasm.stat().st_size / 2
    assert gzip.decompress(body) == wasm.read_bytes()
    encoding, _, body = get(wasm.name, False)
    assert encoding is None and body == wasm.read_bytes()
    # Any other path is the app's own route: index.html, compressed too.
    encoding, content_type, body = get("devices", True)
    assert encoding == "gzip" and content_type.startswith("text/html")
    assert gzip.decompress(body) == (DIST / "index.html").read_bytes()
