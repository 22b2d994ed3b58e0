"""The Cluster page in a real headless Chromium: two kite-server nodes
(`east`, `west`) on a real `nats-server -js`, each publishing its `$SYS`
figures every second, also under `$SYS/brokers/<node-id>/` for every node.
The page opened on east lists both nodes up, knows it is on east, sees
west's client count rise as paho clients connect there and its message rate
while one publishes, and marks west down within seconds of a SIGKILL. A
single broker shows the "single node" note instead.
Screenshots: dashboard-cluster.png, dashboard-cluster-down.png,
dashboard-cluster-single.png."""

import shutil
import socket
import tempfile
import threading
import time

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, Broker, Process
from mqtt_helpers import Client
from test_41_dashboard_pages import attr, css, open_page, severe_console_errors, shot, text_of

NATS_BIN = ROOT / ".venv" / "bin" / "nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: Process, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"nats-server exited:\n{process.log()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nats-server: nothing on port {port} within {timeout} s")


@pytest.fixture
def nats(request):
    if not NATS_BIN.exists():
        pytest.skip(f"{NATS_BIN} missing (make setup installs it)")
    port = free_port()
    store = tempfile.mkdtemp(prefix="kite-nats-")
    n = Process(f"nats-server-{request.node.name}",
                [str(NATS_BIN), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store])
    wait_port(port, n)
    yield f"nats://127.0.0.1:{port}"
    n.stop()
    shutil.rmtree(store, ignore_errors=True)


def node(name: str, nats_url: str, test: str) -> Broker:
    return Broker(f"kite-server-{test}-{name}",
                  ["--cluster", nats_url, "--node-id", name, "--sys-interval", "1"])


@pytest.fixture
def cluster(nats, request):
    nodes = {name: node(name, nats, request.node.name) for name in ("east", "west")}
    yield nodes
    for b in nodes.values():
        b.stop()


def row(name: str) -> str:
    return f'#cluster-nodes tr.node[data-node="{name}"]'


def state(browser, name: str):
    return attr(browser, row(name), "data-state")


def cell(browser, name: str, which: str):
    return text_of(browser, f"{row(name)} .node-{which}")


def test_cluster_page_lists_the_nodes_their_clients_and_rates_and_marks_a_killed_node_down(
        cluster, browser):
    east, west = cluster["east"], cluster["west"]
    wait = open_page(browser, east, "cluster", timeout=30)
    assert text_of(browser, "#cluster-url").endswith(f":{east.http_port}/mqtt")

    # Both nodes, up, the page on east.
    wait.until(lambda d: state(d, "east") == "up" and state(d, "west") == "up")
    wait.until(lambda d: "own" in (attr(d, row("east"), "class") or ""))
    assert "own" not in attr(browser, row("west"), "class")
    assert text_of(browser, f'{row("east")} .node-own') == "this dashboard"
    assert not css(browser, "#cluster-single")
    assert cell(browser, "east", "version").startswith("kite ")
    assert int(cell(browser, "east", "clients")) >= 1, "the dashboard itself"
    assert cell(browser, "west", "clients") == "0"
    WebDriverWait(browser, 15).until(
        lambda d: "2 of 2 nodes up · this dashboard is on east" in text_of(d, "#cluster-summary"))

    # Three clients on west, one publishing: its count and its rate rise.
    clients = [Client(west.tcp_port, f"cluster-west-{i}") for i in range(3)]
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            clients[0].publish("cluster/e2e", b"x")
            time.sleep(0.02)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        WebDriverWait(browser, 15).until(lambda d: cell(d, "west", "clients") == "3")
        WebDriverWait(browser, 15).until(
            lambda d: (cell(d, "west", "in") or "—") not in ("—", "0"))
        assert cell(browser, "east", "in") is not None
        shot(browser, "cluster")
    finally:
        stop.set()
        publisher.join(5)
        for c in clients:
            c.client.loop_stop()
            c.client.disconnect()

    # SIGKILL west: marked down within a few seconds, east stays up.
    west.proc.kill()
    west.proc.wait()
    killed = time.monotonic()
    WebDriverWait(browser, 20, poll_frequency=0.2).until(lambda d: state(d, "west") == "down")
    took = time.monotonic() - killed
    assert took < 12, f"west marked down after {took:.1f} s"
    assert state(browser, "east") == "up"
    assert cell(browser, "west", "in") == "—", "no rate for a node that is down"
    assert "1 of 2 nodes up" in text_of(browser, "#cluster-summary")
    shot(browser, "cluster-down")
    assert east.alive()
    assert not severe_console_errors(browser)


def test_a_single_broker_says_it_is_a_single_node(browser):
    single = Broker("kite-server-cluster-single", ["--sys-interval", "1"])
    try:
        open_page(browser, single, "cluster")
        WebDriverWait(browser, 15).until(lambda d: css(d, "#cluster-single"))
        note = text_of(browser, "#cluster-single")
        assert "single node" in note and "make cluster" in note and "Cluster" in note
        assert not css(browser, "#cluster-nodes tr.node")
        assert text_of(browser, "#cluster-summary") == ""
        shot(browser, "cluster-single")
        assert not severe_console_errors(browser)
    finally:
        assert single.alive()
        assert single.stop() == 0
