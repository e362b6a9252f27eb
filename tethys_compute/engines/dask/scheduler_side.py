"""Functions run inside the Dask scheduler with ``Client.run_on_scheduler``.

They are sent by value (cloudpickle), so the scheduler needs neither tethys_compute nor
Django installed. Keep them self-contained: standard library only, imports inside.
"""


def exception_text(ts, allowed_failures=None):
    """The text of the exception that made task ``ts`` err (of the dependency to blame
    when the failure came from one), or ``None``.

    A task the scheduler failed because its workers died (``KilledWorker``) has no text
    from a worker; one is made from the scheduler's own counts.
    """
    blame = getattr(ts, "exception_blame", None) or ts
    text = getattr(blame, "exception_text", None)
    if text:
        return text
    suspicious = getattr(blame, "suspicious", 0)
    if suspicious:
        limit = "" if allowed_failures is None else f" (allowed failures: {allowed_failures})"
        return (
            f"KilledWorker: task {blame.key!r} was running on workers that died "
            f"{suspicious} time(s){limit}."
        )
    return None


def failure_of(ts, dask_scheduler):
    """Classify the failure of erred task ``ts`` from the scheduler's own records:
    ``{"kind", "exception_type", "workers_died", "memory_killed", "memory_used_mb"}``.

    * the task (or the dependency to blame) raised: ``"exit"``, with the exception's type
      (the worker sends ``repr(exception)`` as its text);
    * the scheduler failed it because the workers running it died (``KilledWorker``,
      ``allowed-failures`` exceeded): ``"memory"`` when one of those workers was
      restarted by its nanny for exceeding its memory limit (the nanny's
      ``worker-restart-memory`` event names it), else ``"lost"``. The dead workers are
      those whose ``remove-worker`` event lists the task among its processing tasks.
    """
    blame = getattr(ts, "exception_blame", None) or ts
    text = getattr(blame, "exception_text", None)
    if text or not getattr(blame, "suspicious", 0):
        name = (text or "").split("(", 1)[0].strip()
        return {"kind": "exit", "exception_type": name if name.isidentifier() else None}

    def events(topic):
        try:
            return [msg for _, msg in dask_scheduler.get_events(topic) if isinstance(msg, dict)]
        except Exception:  # noqa: BLE001 - no event log: classified without it
            return []

    died = [msg.get("worker") for msg in events("all")
            if msg.get("action") == "remove-worker"
            and blame.key in (msg.get("processing-tasks") or ())]
    rss = {}
    for msg in events("worker-restart-memory"):
        if msg.get("worker") in died:
            rss[msg["worker"]] = max(rss.get(msg["worker"], 0), msg.get("rss") or 0)
    return {
        "kind": "memory" if rss else "lost",
        "exception_type": "KilledWorker",
        "workers_died": died,
        "memory_killed": sorted(rss),
        "memory_used_mb": round(max(rss.values()) / 2**20) if rss else None,
    }


def task_details(keys, limit=4000, dask_scheduler=None):
    """Describe tasks by key: ``{key: {"state", "exception", "traceback", "workers",
    "failure"}}``.

    ``state`` is the scheduler's task state or ``None`` when the scheduler does not know
    the key; texts are cut to ``limit`` characters; ``failure`` is :func:`failure_of` for
    an erred task, else ``None``.
    """
    out = {}
    for key in keys:
        ts = dask_scheduler.tasks.get(key)
        if ts is None:
            out[key] = {"state": None, "exception": None, "traceback": None, "workers": [],
                        "failure": None}
            continue
        blame = getattr(ts, "exception_blame", None) or ts
        exception = exception_text(ts, getattr(dask_scheduler, "allowed_failures", None))
        traceback = getattr(blame, "traceback_text", None)
        workers = sorted(ws.address for ws in (ts.who_has or ()))
        if ts.processing_on is not None:
            workers.append(ts.processing_on.address)
        out[key] = {
            "state": ts.state,
            "exception": exception[:limit] if exception else None,
            "traceback": traceback[-limit:] if traceback else None,
            "workers": workers,
            "failure": failure_of(ts, dask_scheduler) if ts.state == "erred" else None,
        }
    return out


def holder_count(name, dask_scheduler=None):
    """Number of tasks the pseudo-client ``name`` holds (``None`` if it does not exist)."""
    cs = dask_scheduler.clients.get(name)
    return None if cs is None else len(cs.wants_what)


async def hold_when_known(key, timeout, dask_scheduler=None):
    """Hold task ``key`` as the ``distributed.Variable`` named by the key, as soon as the
    scheduler knows the task: the scheduler's variables extension's own ``set`` (what
    ``Variable.set`` asks for), after a wait that checks every 0.5 ms at first (the
    extension's own wait checks every 10 ms, a pause paid on every submission, which
    usually reaches the scheduler just after the hold request).

    :param timeout: seconds to wait for the task.
    :returns: True when held, False when the task was still unknown after ``timeout``.
    """
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    pause = 0.0005
    while key not in dask_scheduler.tasks:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.01)
    variables = dask_scheduler.extensions["variables"]
    await variables.set(name=key, key=key, timeout=max(deadline - time.monotonic(), 1.0))
    return True
