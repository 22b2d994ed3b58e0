"""The dashboard stays responsive while 5,000 messages a second arrive:
a native publisher floods the broker (which the page subscribes to with `#`)
and the test measures, in the page, how long a click on the navigation
takes to show the new page. The figures go to the test output and to
target/e2e-artifacts/dashboard-flood.json."""

import json
import socket
import statistics
import threading
import time

from selenium.webdriver.support.ui import WebDriverWait

from conftest import ARTIFACTS
from test_41_dashboard_pages import attr, click, css, open_page, severe_console_errors, shot, text_of

RATE = 5_000          # messages per second
TOPICS = 100          # spread over flood/0 .. flood/99
DURATION = 30.0       # seconds of flood


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


class Flooder(threading.Thread):
    """QoS 0 PUBLISHes at a steady rate over a raw MQTT 3.1.1 connection:
    frames are built in Python once and written in batches every 10 ms, so
    the rate holds without a client library in the way."""

    def __init__(self, port, rate=RATE, duration=DURATION):
        super().__init__(daemon=True)
        self.port, self.rate, self.duration = port, rate, duration
        self.sent = 0
        self.elapsed = 0.0
        self.stop_flag = threading.Event()

    def run(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = _str("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + _str("e2e-flooder")
        s.sendall(b"\x10" + _varint(len(body)) + body)
        assert s.recv(4)[:2] == b"\x20\x02", "no CONNACK"
        s.setblocking(True)
        batch = self.rate // 100
        start = time.monotonic()
        tick = 0
        while not self.stop_flag.is_set():
            now = time.monotonic() - start
            if now >= self.duration:
                break
            frames = []
            for _ in range(batch):
                n = self.sent
                payload = json.dumps({"n": n, "t": round(now, 3), "v": n % 97}).encode()
                body = _str(f"flood/{n % TOPICS}") + payload
                frames.append(b"\x30" + _varint(len(body)) + body)
                self.sent += 1
            s.sendall(b"".join(frames))
            tick += 1
            delay = start + tick * 0.01 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.elapsed = time.monotonic() - start
        s.sendall(b"\xe0\x00")  # DISCONNECT
        s.close()


# Click a navigation link and wait, in the page, for the new page to be in
# the DOM and painted (two animation frames); returns milliseconds.
CLICK_AND_WAIT = """
const [page, done] = [arguments[0], arguments[arguments.length - 1]];
const t0 = performance.now();
document.querySelector(`nav a[data-page="${page}"]`).click();
function check() {
  if (document.getElementById(`page-${page}`)) {
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
  } else {
    requestAnimationFrame(check);
  }
}
check();
"""

# Time a 1 s window in the page: frames painted, longest gap between frames.
FRAME_STATS = """
const done = arguments[arguments.length - 1];
const t0 = performance.now();
let frames = 0, last = t0, worst = 0;
function frame(t) {
  frames++; worst = Math.max(worst, t - last); last = t;
  if (t - t0 < 1000) requestAnimationFrame(frame);
  else done({frames, worst});
}
requestAnimationFrame(frame);
"""


def measure_clicks(browser, pages, rounds):
    times = []
    for i in range(rounds):
        page = pages[i % len(pages)]
        times.append(browser.execute_async_script(CLICK_AND_WAIT, page))
        time.sleep(0.25)
    return times


def test_a_flood_of_5000_messages_per_second_leaves_the_page_responsive(broker, devices, browser):
    browser.set_script_timeout(30)
    wait = open_page(browser, broker, "devices")
    wait.until(lambda d: len(css(d, "#devices .device-card")) >= 3)
    pages = ["topics", "devices", "publish", "alarms", "broker"]
    quiet = measure_clicks(browser, pages, 10)

    flooder = Flooder(broker.tcp_port)
    flooder.start()
    time.sleep(3)  # let the flood reach full speed
    t0 = time.monotonic()
    r0 = browser.execute_script("return window.kiteReceived || 0")
    busy = measure_clicks(browser, pages, 20)
    frames = [browser.execute_async_script(FRAME_STATS) for _ in range(3)]
    # The heavy pages while flooded: the tree with the flood branch open,
    # the live message list.
    click(browser, 'nav a[data-page="topics"]')
    wait.until(lambda d: css(d, '.topic-row[data-topic="flood"]'))
    click(browser, '.topic-row[data-topic="flood"] .t-toggle')
    wait.until(lambda d: css(d, '.topic-row[data-topic="flood/1"]'))
    click(browser, '.topic-row[data-topic="flood/1"]')
    wait.until(lambda d: text_of(d, "#topic-path") == "flood/1")
    tree_clicks = measure_clicks(browser, ["publish", "topics"], 6)
    shot(browser, "flood-topics")
    click(browser, 'nav a[data-page="publish"]')
    shot(browser, "flood-publish")
    r1 = browser.execute_script("return window.kiteReceived || 0")
    t1 = time.monotonic()
    assert flooder.is_alive(), "the flood ended before the measurements did"
    flooder.join(timeout=DURATION + 10)
    page_rate = (r1 - r0) / (t1 - t0)
    sent_rate = flooder.sent / flooder.elapsed

    # The page took in the whole flood: the tree's exact count of the flood
    # branch (give the tail a moment to arrive).
    click(browser, 'nav a[data-page="topics"]')
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        title = attr(browser, '.topic-row[data-topic="flood"] .t-count', "title") or "0 messages"
        got = int(title.split()[0])
        if got >= flooder.sent:
            break
        time.sleep(0.5)

    report = {
        "flood_sent_per_s": round(sent_rate),
        "flood_sent_total": flooder.sent,
        "page_received_per_s": round(page_rate),
        "page_received_of_flood": got,
        "click_to_page_ms_quiet": {"median": round(statistics.median(quiet), 1), "max": round(max(quiet), 1)},
        "click_to_page_ms_flood": {"median": round(statistics.median(busy), 1),
                                   "p90": round(sorted(busy)[int(len(busy) * 0.9) - 1], 1),
                                   "max": round(max(busy), 1), "all": [round(t, 1) for t in busy]},
        "click_to_page_ms_flood_tree_open": [round(t, 1) for t in tree_clicks],
        "frames_per_s_flood": [f["frames"] for f in frames],
        "longest_frame_gap_ms_flood": [round(f["worst"], 1) for f in frames],
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "dashboard-flood.json").write_text(json.dumps(report, indent=2))
    print("\nflood report:", json.dumps(report, indent=2))

    assert sent_rate >= 0.9 * RATE, f"the flooder only managed {sent_rate:.0f} msg/s"
    assert got == flooder.sent, f"the page received {got} of {flooder.sent}"
    assert statistics.median(busy) < 250, report
    assert max(busy) < 1000, report
    assert max(tree_clicks) < 1000, report
    assert severe_console_errors(browser) == []
