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


def task_details(keys, limit=4000, dask_scheduler=None):
    """Describe tasks by key: ``{key: {"state", "exception", "traceback", "workers"}}``.

    ``state`` is the scheduler's task state or ``None`` when the scheduler does not know
    the key; texts are cut to ``limit`` characters.
    """
    out = {}
    for key in keys:
        ts = dask_scheduler.tasks.get(key)
        if ts is None:
            out[key] = {"state": None, "exception": None, "traceback": None, "workers": []}
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
        }
    return out


def holder_count(name, dask_scheduler=None):
    """Number of tasks the pseudo-client ``name`` holds (``None`` if it does not exist)."""
    cs = dask_scheduler.clients.get(name)
    return None if cs is None else len(cs.wants_what)
