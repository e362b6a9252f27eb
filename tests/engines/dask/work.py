"""Task functions run by Dask workers in the tests.

Importable without Django (workers in separate processes import this module by name:
the tests put the repository root on their PYTHONPATH).
"""

import os
import time


def inc(x):
    return x + 1


def add(x, y=0, scale=1):
    return (x + y) * scale


def boom(message="kaput"):
    raise ValueError(message)


def nap(seconds, value=None):
    time.sleep(seconds)
    return value


def nap_until_file(path, value=None, poll=0.02, limit=60):
    """Sleep until ``path`` exists (a test's signal), then return ``value``."""
    deadline = time.monotonic() + limit
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(poll)
    return value


def nap_after_file(path, seconds, value=None):
    """Wait until ``path`` exists (a test's signal), sleep ``seconds``, return ``value``."""
    nap_until_file(path)
    time.sleep(seconds)
    return value


def touch_and_nap(path, seconds, value=None):
    """Create ``path`` (signals the task started), sleep, return ``value``."""
    with open(path, "a"):
        pass
    time.sleep(seconds)
    return value


def count_runs(path, value=None):
    """Append a line to ``path`` per run; return ``value``."""
    with open(path, "a") as handle:
        handle.write("run\n")
    return value


def not_json():
    return {1, 2, 3}


def client_names(dask_scheduler=None):
    """Run on a scheduler: the names of its clients (pseudo-clients included)."""
    return sorted(dask_scheduler.clients)


def size(data, seconds=0.0):
    """``len(data)`` after ``seconds``: a task whose argument can be made large."""
    time.sleep(seconds)
    return len(data)


def hog(megabytes, step=16, pause=0.05):
    """Allocate ``megabytes`` MiB in ``step`` MiB pieces (touched, so resident), slowly
    enough for a nanny's memory monitor to see it grow; return the size held."""
    held = []
    for _ in range(0, megabytes, step):
        held.append(bytearray(step * 2**20))
        time.sleep(pause)
    time.sleep(2)
    return sum(len(piece) for piece in held)


def chatty(lines, value=None, flag=None):
    """Print ``lines`` numbered lines to stdout and one to stderr, then return ``value``;
    with ``flag``, print the first half, wait until ``flag`` exists, then the rest."""
    import sys

    half = lines // 2 if flag else lines
    for number in range(half):
        print(f"out line {number}", flush=True)
    if flag:
        nap_until_file(flag)
        for number in range(half, lines):
            print(f"out line {number}", flush=True)
    sys.stderr.write("a warning on stderr\n")
    return value


def _deep_inner(message):
    raise ValueError(message)


def fail_deep(message="kaput"):
    """Print something, then raise ValueError(``message``) two calls down."""
    print("about to fail")
    return _deep_inner(message)


def shout(megabytes):
    """Write ``megabytes`` MiB of numbered lines to stdout; returns the bytes written."""
    written = 0
    number = 0
    while written < megabytes * 1024 * 1024:
        line = f"shout {number:09d}\n"
        print(line, end="")
        written += len(line)
        number += 1
    print("the very end")
    return written


def resource_restrictions(key, dask_scheduler=None):
    """Run on the scheduler: ``{task key: resource_restrictions}`` of task ``key`` and of
    the tasks it depends on (a Delayed job's own work is its key's dependency)."""
    ts = dask_scheduler.tasks.get(key)
    if ts is None:
        return {}
    return {t.key: dict(t.resource_restrictions or {}) for t in (ts, *ts.dependencies)}


def fail_first_time(path, value=None):
    """Print a line; the first call (``path`` absent) creates ``path`` and raises."""
    import os

    first = not os.path.exists(path)
    print("first run output" if first else "second run output", flush=True)
    if first:
        open(path, "w").close()
        raise RuntimeError("first run fails")
    return value


def echo(*args, **kwargs):
    """Its arguments, as JSON can store them."""
    return [list(args), kwargs]
