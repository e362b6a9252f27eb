"""What the schedd says about a set of jobs: one snapshot from one ``condor_q`` and at most
one ``condor_history`` (or one bindings query), whatever the number of jobs.

A job is looked up in the queue first; clusters the queue no longer has, and the node
jobs of DAGs, are looked up in the history. A job seen in both (it left the queue
between the two calls) is taken from the history, which is the later answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import holds

#: What a job used and asked for (HTCondor manual, "Job ClassAd Attributes"): seconds
#: (wall, cumulative over runs; CPU user and system), MB (peak memory, request), KiB
#: (disk), cores. Read in the same query as the status (see :func:`usage_of`).
USAGE_ATTRIBUTES = ("RemoteWallClockTime", "RemoteUserCpu", "RemoteSysCpu", "MemoryUsage",
                    "RequestMemory", "RequestCpus", "DiskUsage")

#: Attributes read for each job (``condor_q -json -attributes``; the bindings' projection).
ATTRIBUTES = (
    "ClusterId", "ProcId", "JobStatus", "ExitCode", "ExitBySignal", "ExitSignal",
    "HoldReasonCode", "DAGManJobId", "EnteredCurrentStatus", "DAGNodeName", "HoldReason",
    *holds.ATTRIBUTES,
    *(name for name in USAGE_ATTRIBUTES if name not in holds.ATTRIBUTES),
)

#: How far the queue query's ClusterId ranges may reach past the asked-for ids: a tenth
#: as many other ids (see :func:`constraint`).
QUERY_SLACK = 0.1

#: HTCondor's JobStatus codes.
IDLE, RUNNING, REMOVED, COMPLETED, HELD, TRANSFERRING_OUTPUT, SUSPENDED = 1, 2, 3, 4, 5, 6, 7
#: condorpy's names of JobStatus codes (``condorpy.static.CONDOR_JOB_STATUSES``).
CONDOR_STATUS_NAMES = {
    0: "Unexpanded", 1: "Idle", 2: "Running", 3: "Removed", 4: "Completed", 5: "Held",
    6: "Submission_err",
}
#: HoldReasonCode of a hold asked for by a user (``condor_hold``).
USER_HOLD = 1


@dataclass(frozen=True)
class ProcState:
    """One job (ClusterId.ProcId) as the schedd reported it."""

    cluster: int
    proc: int
    status: int
    in_queue: bool
    exit_code: int | None = None
    exit_by_signal: bool = False
    exit_signal: int | None = None
    hold_reason: str | None = None
    hold_reason_code: int | None = None
    dag_id: int | None = None
    node_name: str | None = None
    entered: int | None = None
    #: The other attributes read (``holds.ATTRIBUTES``): what classifies a failure.
    ad: dict = field(default_factory=dict, compare=False, hash=False)
    #: ``{attribute: number}`` of the :data:`USAGE_ATTRIBUTES` the ad had (a tuple of
    #: pairs, so the state stays hashable).
    usage: tuple = ()

    @property
    def succeeded(self):
        return self.status == COMPLETED and not self.exit_by_signal and not self.exit_code

    @property
    def failed(self):
        return self.status == COMPLETED and not self.succeeded

    def describe_exit(self):
        if self.exit_by_signal:
            return f"was killed by signal {self.exit_signal}"
        return f"exited with code {self.exit_code}"


@dataclass
class QueueSnapshot:
    """Jobs found, by ClusterId then ProcId."""

    procs: dict = field(default_factory=dict)

    def add(self, state: ProcState):
        self.procs.setdefault(state.cluster, {})[state.proc] = state

    def cluster(self, cluster_id) -> list[ProcState]:
        """The cluster's procs, by ProcId (empty when the schedd knows none)."""
        procs = self.procs.get(int(cluster_id), {})
        return [procs[p] for p in sorted(procs)]

    def dag_nodes(self, dag_id) -> dict[str, list[ProcState]]:
        """Node name -> procs of the node's latest job (its last retry) in DAG ``dag_id``."""
        latest: dict[str, int] = {}
        for cluster, procs in self.procs.items():
            for state in procs.values():
                if state.dag_id == dag_id and state.node_name:
                    if state.node_name not in latest or cluster > latest[state.node_name]:
                        latest[state.node_name] = cluster
                    break
        return {name: self.cluster(cluster) for name, cluster in latest.items()}


def constraint(clusters=(), dags=(), *, slack=0.0) -> str:
    """A ClassAd constraint selecting clusters and the node jobs of DAGs.

    Runs of three or more ClusterIds become ranges (``(ClusterId >= 5 && ClusterId <=
    900)``) and the other ids one ``member(ClusterId, {...})`` list: a schedd evaluates
    the constraint against every ad in its queue, and a range costs two comparisons
    where a list costs one per id. With ``slack`` (a fraction of the number of ids), the
    smallest gaps between ids are bridged as long as the ids added stay within
    ``slack * len(clusters)``: the query may then also return other jobs (of the same
    owner; ``condor_q`` shows only the user's jobs), which the caller ignores. Used with
    ``0.1`` for the monitor's ``condor_q``; acting on jobs and ``condor_history`` keep
    the default 0 (exactly the given ids).
    """
    parts = []
    if clusters:
        parts.extend(_cluster_terms(sorted({int(c) for c in clusters}), slack))
    if dags:
        ids = ", ".join(str(int(d)) for d in sorted(set(dags)))
        parts.append(f"member(DAGManJobId, {{{ids}}})")
    return " || ".join(parts) if parts else "false"


def _cluster_terms(ids, slack):
    budget = int(slack * len(ids))
    bridged = {i for i in range(len(ids) - 1) if ids[i + 1] - ids[i] == 1}
    gaps = sorted((ids[i + 1] - ids[i] - 1, i) for i in range(len(ids) - 1)
                  if ids[i + 1] - ids[i] > 1)
    for size, i in gaps:
        if size > budget:
            break
        budget -= size
        bridged.add(i)
    ranges, single = [], []
    start = 0
    for i in range(len(ids)):
        if i in bridged:
            continue
        low, high = ids[start], ids[i]
        if high - low >= 2:
            ranges.append(f"(ClusterId >= {low} && ClusterId <= {high})")
        else:
            single.extend(ids[start:i + 1])
        start = i + 1
    terms = [f"member(ClusterId, {{{', '.join(map(str, single))}}})"] if single else []
    return terms + ranges


def _int(value):
    if value in (None, "", "undefined", "error"):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _number(value):
    if isinstance(value, bool) or value in (None, "", "undefined", "error"):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None  # an expression ("/Expr(...)/") or text
    return number if number == number and number >= 0 else None


def usage_of(procs) -> dict | None:
    """What the procs used, as ``job.usage`` keeps it (``tethys_compute.models.usage``):
    wall and CPU seconds summed over the procs, peak memory (MB), requested memory (MB),
    requested CPUs and disk (KiB) the largest of one proc; ``None`` when no proc reported
    any of it."""
    ads = [dict(state.usage) for state in procs if state.usage]
    if not ads:
        return None

    def total(*names):
        return round(sum(ad.get(name, 0.0) for ad in ads for name in names), 3)

    def largest(name):
        values = [ad[name] for ad in ads if name in ad]
        return int(max(values)) if values else None

    return {
        "wall_seconds": total("RemoteWallClockTime"),
        "cpu_seconds": total("RemoteUserCpu", "RemoteSysCpu"),
        "peak_memory_mb": largest("MemoryUsage"),
        "requested_memory_mb": largest("RequestMemory"),
        "requested_cpus": largest("RequestCpus"),
        "disk_kb": largest("DiskUsage"),
    }


def _text(value):
    if value in (None, "undefined", "error"):
        return None
    if isinstance(value, str) and value.startswith("/Expr(") and value.endswith(")/"):
        return None  # an unevaluated expression in -json output, not text
    return str(value)


def proc_state(values: dict, in_queue: bool) -> ProcState | None:
    """Build a :class:`ProcState` from attribute values (text or Python values)."""
    cluster, proc = _int(values.get("ClusterId")), _int(values.get("ProcId"))
    status = _int(values.get("JobStatus"))
    if cluster is None or proc is None or status is None:
        return None
    by_signal = values.get("ExitBySignal")
    return ProcState(
        cluster=cluster, proc=proc, status=status, in_queue=in_queue,
        exit_code=_int(values.get("ExitCode")),
        exit_by_signal=by_signal is True or str(by_signal).lower() == "true",
        exit_signal=_int(values.get("ExitSignal")),
        hold_reason=_text(values.get("HoldReason")),
        hold_reason_code=_int(values.get("HoldReasonCode")),
        dag_id=_int(values.get("DAGManJobId")),
        node_name=_text(values.get("DAGNodeName")),
        entered=_int(values.get("EnteredCurrentStatus")),
        ad={name: _plain(values[name]) for name in holds.ATTRIBUTES
            if name in values and _plain(values[name]) is not None},
        usage=tuple((name, number) for name in USAGE_ATTRIBUTES
                    if (number := _number(values.get(name))) is not None),
    )


def _plain(value):
    """A JSON or bindings value as a plain Python value (``None`` for undefined or an
    unevaluated expression)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text


def parse_json(text: str, in_queue: bool) -> list[ProcState]:
    """Parse ``condor_q``/``condor_history`` ``-json`` output: a JSON array of job ads, or
    nothing at all when no job matched (HTCondor manual, condor_q ``-json``).

    JSON carries every value whole, so free text (a ``HoldReason`` with tabs, newlines or
    quotes) and attributes added to :data:`ATTRIBUTES` later cannot shift other fields.
    An attribute the ad lacks is absent (undefined); one holding an expression arrives
    as the string ``"/Expr(...)/"`` and is read as undefined.

    :raises ValueError: the output is not a JSON array of objects.
    """
    if not text.strip():
        return []
    ads = json.loads(text)
    if not isinstance(ads, list) or not all(isinstance(ad, dict) for ad in ads):
        raise ValueError("expected a JSON array of job ads")
    states = []
    for ad in ads:
        state = proc_state(ad, in_queue)
        if state is not None:
            states.append(state)
    return states


def merge(queue_states, history_states) -> QueueSnapshot:
    snapshot = QueueSnapshot()
    for state in queue_states:
        snapshot.add(state)
    for state in history_states:
        snapshot.add(state)
    return snapshot
