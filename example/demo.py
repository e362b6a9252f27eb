"""Run the example project: ``python example/demo.py`` (what ``make demo`` does).

Migrates an SQLite database under ``.demo/``, creates a demo user (printing its login),
starts a Dask scheduler (with tethys_compute's status plugin) and a worker on 127.0.0.1,
registers them as the app's ``dask_primary`` scheduler, starts the monitor and the web
server on 127.0.0.1, prints the URL, and stops everything cleanly on Ctrl-C, SIGTERM or
SIGHUP (what ``timeout`` or a process manager sends to the process group), at any moment,
even while it is still starting the services.

``--smoke`` does the same without waiting for a person: it submits the example jobs,
shows a progress line while they run, checks their results, prints a summary, writes it
to ``<dir>/smoke-results.json`` and exits 0 (1 when a job did not end as expected).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def free_port(preferred=None):
    """``preferred`` when it is free on 127.0.0.1, otherwise any free port (0: any)."""
    if preferred:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _StopRequest:
    """A stop signal arrives as ``KeyboardInterrupt``, once: the first signal makes the
    demo ignore further ones (so cleanup runs to the end), and is held back while a child
    process is being started (so no child is left out of the list of those to stop)."""

    deferring = False
    pending = False


def _on_stop_signal(signum, frame):
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if _StopRequest.deferring:
        _StopRequest.pending = True
        return
    raise KeyboardInterrupt


@contextmanager
def stop_signals_deferred():
    _StopRequest.deferring = True
    try:
        yield
    finally:
        _StopRequest.deferring = False
        if _StopRequest.pending:
            _StopRequest.pending = False
            raise KeyboardInterrupt


def wait_for(check, what, timeout=60.0, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"{what}: a process exited early (code {process.returncode}).")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"Timed out waiting for {what}.")


def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Services:
    """The demo's child processes, stopped together (SIGTERM, then SIGKILL)."""

    def __init__(self, data_dir: Path, env: dict):
        self.data_dir = data_dir
        self.env = env
        self.processes: list[tuple[str, subprocess.Popen]] = []

    def start(self, name, args, quiet=True):
        # Each child in a session of its own: Ctrl-C in the terminal reaches only the demo,
        # which then stops the children in order (the web server and monitor first).
        with stop_signals_deferred():
            log = open(self.data_dir / f"{name}.log", "w")  # noqa: SIM115 - owned by the child
            process = subprocess.Popen(
                args, env=self.env, cwd=ROOT, stdout=log if quiet else None,
                stderr=subprocess.STDOUT if quiet else None, start_new_session=True,
            )
            log.close()
            self.processes.append((name, process))
        return process

    def stop(self):
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def manage(env, *args, check=True, capture=False):
    return subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT,
                          check=check, text=True, capture_output=capture)


def setup_django(env):
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_user(username):
    from django.contrib.auth import get_user_model

    password = secrets.token_urlsafe(9)
    user, _ = get_user_model().objects.get_or_create(username=username)
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    return user, password


def register_scheduler(address):
    from example.nile_flow.app import NileFlow
    from tethys_compute.models import DaskScheduler, SchedulerSetting

    NileFlow.sync_scheduler_settings()
    scheduler, _ = DaskScheduler.objects.update_or_create(
        name="Local Dask (demo)", defaults={"host": address, "timeout": 10}
    )
    SchedulerSetting.objects.filter(app_package="nile_flow", name="dask_primary").update(
        scheduler_service=scheduler
    )
    return scheduler


def start_everything(args, data_dir, services):
    env = services.env
    manage(env, "migrate", "--noinput", "-v", "0")
    web_port = free_port(args.port)
    dask_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    address = f"tcp://127.0.0.1:{dask_port}"
    scheduler = services.start("dask-scheduler", [
        PYTHON, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
        "--port", str(dask_port), "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
        "--preload", "tethys_compute.engines.dask.plugin", "--tethys-host", web_url,
    ])
    wait_for(lambda: port_open(dask_port), "the Dask scheduler", processes=[scheduler])
    worker = services.start("dask-worker", [
        PYTHON, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
        "--nworkers", "1", "--nthreads", str(args.threads), "--no-dashboard",
        "--dashboard-address", "127.0.0.1:0",
    ])
    setup_django(env)
    register_scheduler(address)
    from distributed import Client

    # A stop signal raised inside the Client's start-up (its event-loop thread is being
    # started) breaks distributed's loop runner and prints its traceback: the signal waits
    # until the Client exists, and the Client is closed however this ends.
    client = None
    try:
        with stop_signals_deferred():
            client = Client(address, timeout=30)
        client.wait_for_workers(1, timeout=60)
    finally:
        if client is not None:
            client.close()
    services.start("monitor", [PYTHON, str(ROOT / "manage.py"), "tethys_compute_monitor",
                               "--interval", "2"])
    web = services.start("web", [PYTHON, str(ROOT / "manage.py"), "runserver",
                                 f"127.0.0.1:{web_port}", "--noreload"])
    wait_for(lambda: port_open(web_port), "the web server", processes=[web, worker])
    return web_url, address


def run_smoke(web_url, data_dir):
    """Submit the example jobs, follow them to the end, check and summarise the results."""
    from example.nile_flow import jobs
    from tethys_compute.models import TethysJob

    user, _ = create_user("smoke")
    started = time.monotonic()
    submitted = [
        jobs.submit_flood_frequency(user, "gumbel_r", n_boot=400, seed=7),
        jobs.submit_flood_frequency(user, "lognorm", n_boot=200, seed=3, tail="low"),
        *jobs.submit_distribution_batch(user, n_boot=100, seed=11,
                                        distributions=("norm", "gamma", "logistic")),
        jobs.submit_change_point(user, lambda job: f"{web_url}/report-job-status/{job.pk}/"),
    ]
    ids = [job.pk for job in submitted]
    deadline = time.monotonic() + 300
    interactive = sys.stdout.isatty()
    last_line = None
    while True:
        rows = list(TethysJob.objects.filter(pk__in=ids).select_subclasses())
        counts = {}
        for row in rows:
            counts[row.cached_status] = counts.get(row.cached_status, 0) + 1
        done = sum(1 for row in rows if row.is_terminal and not row.post_processing_incomplete)
        line = f"{done}/{len(ids)} finished [" + ", ".join(
            f"{n} {status}" for status, n in sorted(counts.items())) + "]"
        elapsed = f"{time.monotonic() - started:5.1f} s"
        if interactive:
            print(f"\r  {line}  {elapsed}   ", end="", flush=True)
        elif line != last_line:
            print(f"  {line}  {elapsed}", flush=True)
        last_line = line
        if done == len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if interactive:
        print()
    summary = {"seconds": round(time.monotonic() - started, 1), "jobs": []}
    failures = []
    for row in sorted(rows, key=lambda r: r.pk):
        result = jobs.result_of(row)
        entry = {"id": row.pk, "name": row.name, "type": row.type, "status": row.cached_status,
                 "parameters": row.extended_properties, "result": result}
        summary["jobs"].append(entry)
        if row.cached_status != "Complete" or not result:
            failures.append(f"{row.name}: {row.cached_status} {row.status_message or ''}")
        elif "return_levels" in result:
            low, high = result["ci95"]["100"] if "100" in result["ci95"] else (None, None)
            if not (low is not None and low <= result["return_levels"]["100"] <= high):
                failures.append(f"{row.name}: the 100-year flow lies outside its interval")
    (data_dir / "smoke-results.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{'job':44} {'status':10} result")
    for entry in summary["jobs"]:
        result = entry["result"] or {}
        if "return_levels" in result:
            level = result["return_levels"]["100"]
            ci = result["ci95"]["100"]
            text = (f"{result['tail']} 100-yr flow {level:7.1f} (95% CI {ci[0]:.1f}-{ci[1]:.1f}), "
                    f"AIC {result['aic']:.1f}")
        elif "year" in result:
            text = (f"mean shifts in {result['year']}: {result['mean_before']:.0f} -> "
                    f"{result['mean_after']:.0f}")
        else:
            text = "-"
        print(f"{entry['name'][:44]:44} {entry['status']:10} {text}")
    print(f"\n{len(ids) - len(failures)}/{len(ids)} jobs complete with checked results in "
          f"{summary['seconds']} s; summary in {data_dir / 'smoke-results.json'}")
    for failure in failures:
        print("  FAILED:", failure)
    return 0 if not failures else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="run the example jobs headless, check them and exit")
    parser.add_argument("--dir", default=str(ROOT / ".demo"),
                        help="where the database, job directories and logs go (default .demo/)")
    parser.add_argument("--port", type=int, default=8000,
                        help="web server port on 127.0.0.1 (default 8000, or a free one)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the Dask worker")
    args = parser.parse_args(argv)
    data_dir = Path(args.dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="example.settings",
        TETHYS_DEMO_DIR=str(data_dir),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        PYTHONUNBUFFERED="1",
    )
    services = Services(data_dir, env)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_stop_signal)
    try:
        web_url, address = start_everything(args, data_dir, services)
        if args.smoke:
            return run_smoke(web_url, data_dir)
        user, password = create_user("demo")
        print(f"\n  tethys_compute demo is running at {web_url}/")
        print(f"  log in as  {user.get_username()} / {password}")
        print(f"  Dask scheduler {address} (plugin reporting to {web_url}); monitor every 2 s")
        print(f"  logs and data in {data_dir}; press Ctrl-C to stop\n", flush=True)
        while all(process.poll() is None for _name, process in services.processes):
            time.sleep(0.5)
        dead = [name for name, process in services.processes if process.poll() is not None]
        print(f"  stopped: {', '.join(dead)} exited; see {data_dir}/<name>.log")
        return 1
    except KeyboardInterrupt:
        print("\n  stopping...", flush=True)
        return 0
    finally:
        for sig in STOP_SIGNALS:  # nothing interrupts the cleanup
            signal.signal(sig, signal.SIG_IGN)
        # A signal may land while Django is still being imported: ask the app registry
        # only once django.apps and its registry exist.
        registry = getattr(sys.modules.get("django.apps"), "apps", None)
        if getattr(registry, "ready", False):
            from tethys_compute.engines.dask.clients import close_all

            close_all()  # this process's client, before its scheduler goes away
        services.stop()

if __name__ == "__main__":
    sys.exit(main())
