"""HTCondor through its Python bindings (``htcondor2``), for a web server that is itself
an HTCondor submit node (an access point).

Submit descriptions come from the same condorpy objects as the command-line engine, with
``initialdir`` and ``executable`` made absolute (the bindings would resolve them against
the process's working directory, which is never changed). DAGs are submitted with
``htcondor2.Submit.from_dag``. The schedd is ``htcondor2.Schedd()``, or what
``TETHYS_COMPUTE["CONDOR_SCHEDD_FACTORY"]`` (a dotted path to a callable) returns.
"""

from __future__ import annotations

import os

from ...exceptions import EngineUnavailable
from .engine import HOLD, RELEASE, REMOVE, CondorEngine, expected_procs, incomplete
from .errors import CondorError, NotInQueue
from .queue import ATTRIBUTES, QUERY_SLACK, QueueSnapshot, constraint, merge, proc_state
from .transport import LocalTransport


def _htcondor2():
    try:
        import htcondor2
    except ImportError as exc:  # pragma: no cover - the extra installs it
        raise EngineUnavailable(
            "The htcondor2 bindings are not installed: pip install 'tethys-compute[condor]'"
        ) from exc
    return htcondor2


def _split_options(options, dag=False):
    """Turn condor_submit(_dag) options into submit commands and from_dag options."""
    commands, dag_options = [], {}
    items = list(options or [])
    i = 0
    while i < len(items):
        option = items[i]
        low = option.lower()
        if low in ("-append", "-a") and i + 1 < len(items):
            commands.append(items[i + 1])
            i += 1
        elif low in ("-batch-name", "-batch_name") and i + 1 < len(items):
            commands.append(f"batch_name = {items[i + 1]}")
            i += 1
        elif dag and low in ("-force", "-f"):
            dag_options["force"] = True
        elif dag and low == "-maxjobs" and i + 1 < len(items):
            dag_options["maxjobs"] = int(items[i + 1])
            i += 1
        else:
            raise CondorError(
                f"The submit option {option!r} is not supported with the htcondor2 bindings.")
        i += 1
    pairs = []
    for command in commands:
        key, sep, value = command.partition("=")
        if not sep or not key.strip():
            raise CondorError(
                f"-append needs a submit command like 'key = value', not {command!r}.")
        pairs.append((key.strip(), value.strip()))
    return pairs, dag_options


class BindingsEngine(CondorEngine):
    """The local schedd through ``htcondor2``; job files on this machine."""

    kind = "htcondor2"

    def __init__(self, schedd_factory=None):
        super().__init__(LocalTransport())
        self._factory = schedd_factory

    def describe(self):
        return "the local schedd (htcondor2)"

    def schedd(self):
        htcondor2 = _htcondor2()
        factory = self._factory or htcondor2.Schedd
        try:
            return factory()
        except Exception as exc:  # noqa: BLE001 - the bindings raise HTCondorException
            raise EngineUnavailable(f"Cannot reach the local schedd: {exc}") from exc

    def submit_job(self, job, *, queue, options):
        htcondor2 = _htcondor2()
        pairs, _ = _split_options(options)
        job._write_job_file()
        description = {k: str(v) for k, v in job.attributes.items() if v not in (None, "", False)}
        description["initialdir"] = os.path.abspath(os.path.join(job._cwd, job.initial_dir))
        executable = job.get("executable")
        if not executable:
            raise CondorError("No 'executable' parameter was provided")
        if not os.path.isabs(executable):
            description["executable"] = os.path.abspath(os.path.join(job._cwd, executable))
        for name, value in job.extra_commands.items():
            description.pop(name, None)
            description[name] = value
        description.update(pairs)
        return self._submit(htcondor2.Submit(description), int(queue))

    def submit_workflow(self, workflow, *, options):
        htcondor2 = _htcondor2()
        pairs, dag_options = _split_options(options, dag=True)
        self.transport.makedirs(workflow._cwd)
        workflow._write_job_file()
        dag_path = os.path.abspath(os.path.join(workflow._cwd, workflow.dag_file))
        try:
            submit = htcondor2.Submit.from_dag(dag_path, dag_options)
        except Exception as exc:  # noqa: BLE001 - HTCondorException with HTCondor's message
            raise CondorError(f"Cannot prepare the DAG for DAGMan: {exc}") from exc
        for key, value in pairs:
            submit[key] = value
        return self._submit(submit, 0)

    def _submit(self, submit, count):
        schedd = self.schedd()
        try:
            result = schedd.submit(submit, count=count)
        except Exception as exc:  # noqa: BLE001
            raise CondorError(f"The schedd refused the submission: {exc}") from exc
        return int(result.cluster())

    def _ask(self, method, expr, in_queue):
        try:
            ads = method(constraint=expr, projection=list(ATTRIBUTES))
        except Exception as exc:  # noqa: BLE001
            raise EngineUnavailable(f"The local schedd did not answer: {exc}") from exc
        states = []
        for ad in ads:
            state = proc_state({name: ad.get(name) for name in ATTRIBUTES}, in_queue)
            if state is not None:
                states.append(state)
        return states

    def query(self, clusters=(), dags=()):
        expected, dags = expected_procs(clusters, dags)
        if not expected:
            return QueueSnapshot()
        schedd = self.schedd()
        queued = self._ask(schedd.query, constraint(set(expected), dags, slack=QUERY_SLACK),
                           True)
        missing = incomplete(expected, queued)
        history = []
        if missing or dags:
            history = self._ask(schedd.history, constraint(missing, dags), False)
        return merge(queued, history)

    def act(self, action, cluster_ids):
        htcondor2 = _htcondor2()
        job_action = {HOLD: htcondor2.JobAction.Hold, RELEASE: htcondor2.JobAction.Release,
                      REMOVE: htcondor2.JobAction.Remove}[action]
        schedd = self.schedd()
        try:
            result = schedd.act(job_action, constraint(cluster_ids))
        except Exception as exc:  # noqa: BLE001
            raise EngineUnavailable(f"The local schedd did not {action} the job: {exc}") from exc
        if int(result.get("TotalSuccess", 0) or 0) == 0:
            ids = ", ".join(map(str, cluster_ids))
            raise NotInQueue(f"No job of cluster(s) {ids} to {action}.")
        return f"{result.get('TotalSuccess')} job(s) {action}"

    def test_connection(self):
        schedd = self.schedd()
        try:
            ads = schedd.query(constraint="true", projection=["JobStatus"])
        except Exception as exc:  # noqa: BLE001
            raise EngineUnavailable(f"The local schedd did not answer: {exc}") from exc
        counts = {}
        for ad in ads:
            counts[ad.get("JobStatus")] = counts.get(ad.get("JobStatus"), 0) + 1
        return (f"Connected to the local schedd (htcondor2): {len(ads)} jobs in the queue; "
                f"{counts.get(1, 0)} idle, {counts.get(2, 0)} running, {counts.get(5, 0)} held")
