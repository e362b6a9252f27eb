"""A process that acts on one job, for race tests (started by
:func:`tests.testapp.shared_db.worker`)::

    python -m tests.testapp.worker '{"job": 3, "action": "process", "go": "/tmp/go", ...}'

It loads the job, touches the ``ready`` file, waits for the ``go`` file (when given),
then runs the action: ``process`` (``process_results()``), ``execute`` (with the work
``work``/``args``/``delayed_key`` name, for a Dask job), ``resubmit``,
``complete`` (``job.status = "Complete"``), ``retry`` (``retry_results()``), ``cycle``
(one monitor cycle; the job is only loaded) or ``batch`` (``bulk_update_status`` of the
jobs ``"jobs": [ids]``, loaded with it, as a monitor without leases would). Every
``job_finished`` it sends is appended to ``<job workspace>/finished.log`` as ``pid status
attempt row-status``. Prints ``{"result": ..., "error": ...}`` as JSON.
"""

import json
import os
import sys
import time

import django


def _work(spec):
    """The arguments of ``execute()``: none, or a Dask job's work: ``work`` (a function's
    dotted path) and its ``args``; with ``delayed_key``, as a ``Delayed`` of that key."""
    if not spec.get("work"):
        return ()
    import importlib

    module, name = spec["work"].rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    if spec.get("delayed_key"):
        import dask

        return (dask.delayed(function, pure=False)(*spec.get("args", []),
                                                   dask_key_name=spec["delayed_key"]),)
    return (function, *spec.get("args", []))


def main(spec):
    django.setup()
    from tethys_compute import signals
    from tethys_compute.models import TethysJob

    def finished(sender, job, status, **kwargs):
        row = TethysJob.objects.filter(pk=job.pk).values_list("_status", flat=True).first()
        with open(os.path.join(job.workspace, "finished.log"), "a") as log:
            log.write(f"{os.getpid()} {status} {job.attempt} {row}\n")

    signals.job_finished.connect(finished, weak=False)
    job = TethysJob.objects.get_subclass(pk=spec["job"])
    batch = list(TethysJob.objects.filter(pk__in=spec.get("jobs") or []).select_subclasses())
    open(spec["ready"], "w").close()
    if spec.get("go"):
        while not os.path.exists(spec["go"]):
            time.sleep(0.005)
    answer = {"result": None, "error": None}
    try:
        if spec["action"] == "process":
            answer["result"] = job.process_results()
        elif spec["action"] == "execute":
            job.execute(*_work(spec))
            answer["result"] = job._status
        elif spec["action"] == "resubmit":
            job.resubmit()
            answer["result"] = job._status
        elif spec["action"] == "complete":
            job.status = "Complete"
            answer["result"] = job._status
        elif spec["action"] == "retry":
            answer["result"] = job.retry_results()
        elif spec["action"] == "batch":
            answer["result"] = type(batch[0]).bulk_update_status(batch)
        elif spec["action"] == "cycle":
            from tethys_compute import monitor

            answer["result"] = monitor.run_cycle().as_dict()
        else:
            raise SystemExit(f"unknown action {spec['action']}")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        answer["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(answer))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
