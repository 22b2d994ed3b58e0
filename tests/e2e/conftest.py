"""Fixtures for the black-box tests: a real kite-server, real devices, real
clients and a real headless Chromium. Binaries come from $KITE_BIN_DIR
(scripts/test-e2e.sh builds them), the dashboard from $KITE_DIST."""

import os
import pathlib
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = pathlib.Path(os.environ.get("KITE_BIN_DIR", ROOT / "target" / "debug"))
DIST = pathlib.Path(os.environ.get("KITE_DIST", ROOT / "dist"))
ARTIFACTS = ROOT / "target" / "e2e-artifacts"


class Process:
    """A child process whose output goes to a log file under target/e2e-artifacts."""

    def __init__(self, name: str, args: list[str]):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"{name}.log"
        self._log = open(self.log_path, "w")
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "info"))
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


READY = "kite-server ready "


def wait_ready(process: "Process", timeout: float = 10.0) -> dict[str, int]:
    """The ports in the broker's ready line (`kite-server ready tcp=ADDR
    http=ADDR [tls=ADDR]`), printed once every listener accepts. Started on
    port 0, a broker tells its ports this way: nothing is guessed, and
    nothing else that happens to answer on a port is mistaken for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in process.log().splitlines():
            if line.startswith(READY):
                fields = dict(f.split("=", 1) for f in line[len(READY):].split())
                return {key: int(addr.rsplit(":", 1)[1]) for key, addr in fields.items()}
        if not process.alive():
            raise RuntimeError(f"{process.log_path.name}: the broker exited:\n{process.log()[-3000:]}")
        time.sleep(0.02)
    raise TimeoutError(f"{process.log_path.name}: no ready line within {timeout} s")


class Broker(Process):
    """A kite-server on ports the kernel picks (unless given: a test that
    restarts a broker on the same ports), known from its ready line."""

    def __init__(self, name: str = "kite-server", extra: list[str] | None = None,
                 bind: str = "127.0.0.1", tcp_port: int = 0, http_port: int = 0):
        extra = list(extra or [])
        if "--data-dir" not in extra:
            # Each broker its own store, unless the test shares one on purpose.
            self.data_dir = tempfile.mkdtemp(prefix="kite-data-")
            extra += ["--data-dir", self.data_dir]
        else:
            self.data_dir = extra[extra.index("--data-dir") + 1]
        args = [
            str(BIN_DIR / "kite-server"),
            "--tcp", f"{bind}:{tcp_port}",
            "--http", f"{bind}:{http_port}",
            "--dashboard-dir", str(DIST),
        ] + extra
        super().__init__(name, args)
        ports = wait_ready(self)
        self.tcp_port, self.http_port = ports["tcp"], ports["http"]
        self.tls_port = ports.get("tls")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"


@pytest.fixture
def broker(request):
    b = Broker(f"kite-server-{request.node.name}")
    yield b
    assert b.alive(), "the broker died during the test:\n" + b.log()[-3000:]
    assert b.stop() == 0, "the broker did not stop cleanly on SIGINT"


@pytest.fixture
def devices(broker, request):
    d = Process(
        f"kite-devices-{request.node.name}",
        [str(BIN_DIR / "kite-devices"), "--broker", f"127.0.0.1:{broker.tcp_port}",
         "--count", "3", "--interval", "0.5"],
    )
    yield d
    d.stop()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900"]:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="kite-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
