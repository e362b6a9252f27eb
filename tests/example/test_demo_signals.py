"""``make demo`` stopped the way a process manager or ``timeout`` stops it: SIGTERM to its
process group, at any moment (while it starts its services, or once it runs). It exits
without a traceback and leaves none of its processes running (Dask scheduler and worker,
monitor, web server): each carries ``TETHYS_DEMO_DIR=<its directory>`` in its environment,
which is how they are found here."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TETHYS_TEST_DB") == "postgres",
                       reason="the demo uses its own SQLite database: runs in the SQLite pass"),
]


def demo_processes(directory):
    """Live processes started by the demo that uses ``directory``."""
    marker = f"TETHYS_DEMO_DIR={directory}"
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace")
        except (OSError, psutil.Error):
            continue
        if marker in environ.split("\0"):
            found.append(process)
    return found


def wait_until(check, what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def demo(tmp_path):
    directory = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    out = open(tmp_path / "demo.out", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "example" / "demo.py"), "--dir", str(directory),
         "--port", "0"],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield process, directory, tmp_path / "demo.out"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for left in demo_processes(directory.resolve()):  # never leave them to other tests
        left.kill()
    out.close()


@pytest.mark.parametrize("moment", ["dask-scheduler.log", "dask-worker.log", "monitor.log",
                                    "running"])
def test_sigterm_to_the_process_group_stops_everything(demo, moment):
    process, directory, output = demo
    if moment == "running":
        wait_until(lambda: "is running at" in output.read_text() or process.poll() is not None,
                   "the demo to run", 240)
    else:  # while it is starting the services: this one has just been started
        wait_until(lambda: (directory / moment).exists() or process.poll() is not None,
                   f"{moment} to appear", 240)
    assert process.poll() is None, output.read_text()
    assert demo_processes(directory.resolve()), "the demo's services were not found"
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=90)
    text = output.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert process.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM), text
    left = demo_processes(directory.resolve())
    assert not left, [(p.pid, p.cmdline()) for p in left]
