"""The stand-in ``condor_dagman``: runs a DAG the way HTCondor's DAGMan does.

Started by the schedd as the DAGMan job (scheduler universe) with the arguments
``condor_submit_dag`` or ``htcondor2.Submit.from_dag`` write (``-Dag <file>``, ``-MaxJobs N``
...). It submits each node's job once its parents succeeded (highest PRIORITY first,
within ``-MaxJobs`` and the CATEGORY MAXJOBS throttles), tagging it with
``DAGManJobId``/``DAGNodeName`` and the nodes log; runs PRE and POST scripts (PRE_SKIP);
retries failed nodes (RETRY N UNLESS-EXIT v); aborts on ABORT-DAG-ON; waits while a node
job is held. It ends with exit code 0 when every node succeeded, otherwise 1 after
writing a rescue DAG (``<dag>.rescue001``); descendants of a failed node never run.

Signals, as HTCondor sends them: SIGUSR1 (``condor_rm`` of the DAGMan job) removes the
node jobs still in the queue and exits; SIGTERM (``condor_hold``) exits at once and leaves
the node jobs alone. On a restart (after ``condor_release``) it recovers the state of its
nodes from the queue and history.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import actions
from .dag_file import DagError, parse_dag
from .state import Queue
from .submit_lang import SubmitError
from .submitter import submit

TICK = float(os.environ.get("STANDIN_TICK", "0.05"))
WAITING, SUBMITTED, DONE, FAILED = "waiting", "submitted", "done", "failed"


class DagMan:
    def __init__(self, args):
        self.args = _parse_args(args)
        self.dag_path = Path(self.args["dag"]).resolve()
        self.dir = self.dag_path.parent
        self.id = int(os.environ.get("CONDOR_ID", "0.0").split(".")[0])
        out = os.environ.get("_CONDOR_DAGMAN_LOG") or f"{self.dag_path}.dagman.out"
        self.out_path = Path(out) if os.path.isabs(out) else Path.cwd() / out
        self.nodes_log = f"{self.dag_path}.nodes.log"
        self.removed = False
        self.held = False
        self.state = {}
        self.retries = {}
        self.cluster = {}
        self.values = {}

    # --- logging -----------------------------------------------------------------------------
    def log(self, message):
        stamp = time.strftime("%m/%d/%y %H:%M:%S")
        with open(self.out_path, "a") as handle:
            handle.write(f"{stamp} {message}\n")

    # --- main loop -----------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGUSR1, self._on_remove)
        signal.signal(signal.SIGTERM, self._on_hold)
        self.log("******************************************************")
        self.log(f"** condor_scheduniv_exec.{self.id}.0 (CONDOR_DAGMAN) STARTING UP")
        self.log(f"** {sys.argv[0]}")
        self.log("** SubsystemInfo: name=DAGMAN type=DAGMAN(9) class=CLIENT(2)")
        self.log(f"** PID = {os.getpid()}")
        self.log("******************************************************")
        try:
            self.dag = parse_dag(self.dag_path)
        except DagError as exc:
            self.log(f"ERROR: {exc}")
            self.log("Aborting DAG...")
            return 1
        self.log(f"Parsing 1 dagfiles\nDag contains {len(self.dag.nodes)} total jobs")
        for name, node in self.dag.nodes.items():
            self.state[name] = DONE if node.done else WAITING
            self.retries[name] = 0
        self._apply_rescue()
        self._recover()
        while True:
            if self.removed:
                return self._abort_removed()
            if self.held:
                self.log("Received SIGTERM: exiting (node jobs are left in the queue)")
                return 0
            outcome = self._step()
            if outcome is not None:
                return outcome
            time.sleep(TICK)

    def _on_remove(self, *_):
        self.removed = True

    def _on_hold(self, *_):
        self.held = True

    def _apply_rescue(self):
        if self.args.get("force"):
            return
        rescues = sorted(self.dir.glob(f"{self.dag_path.name}.rescue[0-9][0-9][0-9]"))
        if not rescues or str(self.args.get("autorescue", "1")) == "0":
            return
        self.log(f"Found rescue DAG number {rescues[-1].name[-3:]}; running {rescues[-1].name}")
        for line in rescues[-1].read_text().splitlines():
            words = line.split()
            if len(words) == 2 and words[0].upper() == "DONE" and words[1] in self.state:
                self.state[words[1]] = DONE

    def _recover(self):
        with Queue() as queue:
            jobs = queue.dag_jobs(self.id)
        for ad, _ in jobs:
            name = ad.get("DAGNodeName")
            if name in self.state and self.state[name] != DONE:
                self.cluster[name] = ad["ClusterId"]
                self.retries[name] = int(ad.get("DAGNodeRetry") or 0)
                self.state[name] = SUBMITTED
        if self.cluster:
            self.log(f"Running in recovery mode: {len(self.cluster)} node job(s) found")

    def _step(self):
        with Queue() as queue:
            jobs = queue.dag_jobs(self.id)
        by_cluster = {}
        for ad, in_queue in jobs:
            by_cluster.setdefault(ad["ClusterId"], []).append((ad, in_queue))
        for name, state in list(self.state.items()):
            if state != SUBMITTED:
                continue
            procs = by_cluster.get(self.cluster[name], [])
            if not procs or any(in_queue for _, in_queue in procs):
                continue
            outcome = self._finish_node(name, [ad for ad, _ in procs])
            if outcome is not None:
                return outcome
        self._submit_ready()
        if any(s == SUBMITTED for s in self.state.values()):
            return None
        return self._finish_dag()

    # --- nodes ---------------------------------------------------------------------------------
    def _node_dir(self, node):
        return (self.dir / node.dir) if node.dir else self.dir

    def _submit_ready(self):
        running = sum(1 for s in self.state.values() if s == SUBMITTED)
        per_category = {}
        for name, state in self.state.items():
            category = self.dag.nodes[name].category
            if state == SUBMITTED and category:
                per_category[category] = per_category.get(category, 0) + 1
        ready = [
            node for name, node in self.dag.nodes.items()
            if self.state[name] == WAITING and all(self.state[p] == DONE for p in node.parents)
        ]
        ready.sort(key=lambda n: (-n.priority, list(self.dag.nodes).index(n.name)))
        limit = self.args.get("maxjobs")
        for node in ready:
            if limit and running >= limit:
                return
            cap = self.dag.maxjobs.get(node.category) if node.category else None
            if cap is not None and per_category.get(node.category, 0) >= cap:
                continue
            if self._start_node(node):
                running += 1
                if node.category:
                    per_category[node.category] = per_category.get(node.category, 0) + 1

    def _start_node(self, node) -> bool:
        """Run the PRE script and submit the node's job; True when a job was submitted."""
        name = node.name
        if node.pre:
            code = self._script(node, node.pre, "PRE")
            if node.pre_skip is not None and code == node.pre_skip:
                self.log(f"PRE_SKIP return value {code} for node {name}: node is done")
                self.state[name] = DONE
                return False
            if code != 0:
                self.log(f"PRE Script of node {name} failed with status {code}")
                self._node_failed(node, code)
                return False
        if node.noop:
            self.log(f"Node {name} is NOOP: its job is not submitted")
            self.values[name] = 0
            self._node_result(node, 0)
            return False
        appends = [f"{k} = {v}" for k, v in node.vars.items()]
        appends += [
            f"+DAGManJobId = {self.id}",
            f"DAGManJobId = {self.id}",
            f'+DAGNodeName = "{name}"',
            f"dag_node_name = {name}",
            f"submit_event_notes = DAG Node: {name}",
            f"dagman_log = {self.nodes_log}",
            f'+DAGParentNodeNames = "{",".join(sorted(node.parents))}"',
            f"+DAGNodeRetry = {self.retries[name]}",
        ]
        if node.priority:
            appends.append(f"priority = {node.priority}")
        node_dir = self._node_dir(node)
        self.log(f"Submitting HTCondor Node {name} job(s)...")
        try:
            text = (node_dir / node.submit_file).read_text()
            cluster, ads = submit(text, cwd=node_dir, appends=appends)
        except (OSError, SubmitError) as exc:
            self.log(f"ERROR: submit attempt failed for node {name}: {exc}")
            self._node_failed(node, -1001)
            return False
        self.log(f"Event: ULOG_SUBMIT for HTCondor Node {name} ({cluster}.0.0)")
        self.log(f"Submitted {len(ads)} job(s) for node {name} (cluster {cluster})")
        self.cluster[name] = cluster
        self.state[name] = SUBMITTED
        return True

    def _finish_node(self, name, ads):
        node = self.dag.nodes[name]
        removed = any(ad["JobStatus"] == 3 for ad in ads)
        value = 0
        for ad in ads:
            if ad.get("ExitBySignal"):
                value = -int(ad.get("ExitSignal") or 1)
                break
            if int(ad.get("ExitCode") or 0) != 0:
                value = int(ad["ExitCode"])
                break
        cluster = self.cluster[name]
        if removed:
            self.log(f"Node {name} job proc ({cluster}.0.0) was removed")
            value = -1 if value == 0 else value
        elif value == 0:
            self.log(f"Node {name} job proc ({cluster}.0.0) completed successfully.")
        else:
            self.log(f"Node {name} job proc ({cluster}.0.0) failed with status {value}.")
        if node.post:
            value = self._script(node, node.post, "POST", value, cluster)
        return self._node_result(node, value)

    def _node_result(self, node, value):
        name = node.name
        self.values[name] = value
        if value == 0:
            self.state[name] = DONE
            return None
        if node.abort_on is not None and value == node.abort_on:
            code = node.abort_return if node.abort_return is not None else value
            self.log(f"Aborting DAG because we got the ABORT exit value from a node ({name}: {value})")
            self._remove_node_jobs("DAG abort (ABORT-DAG-ON)")
            self.state[name] = FAILED
            self._write_rescue()
            return code
        self._node_failed(node, value)
        return None

    def _node_failed(self, node, value):
        name = node.name
        self.values[name] = value
        if self.retries[name] < node.retry and (
            node.retry_unless_exit is None or value != node.retry_unless_exit
        ):
            self.retries[name] += 1
            self.log(f"Retrying node {name} (retry #{self.retries[name]} of {node.retry})...")
            self.state[name] = WAITING
            return
        if node.retry and node.retry_unless_exit is not None and value == node.retry_unless_exit:
            self.log(f"Node {name} exited with UNLESS-EXIT value {value}: not retrying")
        self.state[name] = FAILED

    def _script(self, node, command, kind, value=None, cluster=None):
        macros = {
            "$JOB": node.name, "$RETRY": str(self.retries[node.name]),
            "$MAX_RETRIES": str(node.retry), "$DAG_STATUS": "0",
            "$FAILED_COUNT": str(sum(1 for s in self.state.values() if s == FAILED)),
        }
        if value is not None:
            macros["$RETURN"] = str(value)
            macros["$JOBID"] = f"{cluster}.0"
        args = [macros.get(word, word) for word in command]
        local = self._node_dir(node) / args[0]
        if not os.path.isabs(args[0]) and local.exists():
            args[0] = str(local)  # scripts are found relative to the node's directory
        self.log(f"Running {kind} script of Node {node.name}...")
        try:
            code = subprocess.run(args, cwd=self._node_dir(node)).returncode
        except OSError as exc:
            self.log(f"ERROR: {kind} script of node {node.name} could not run: {exc}")
            return 1
        self.log(f"{kind} Script of node {node.name} completed with status {code}")
        return code

    # --- the end -----------------------------------------------------------------------------------
    def _finish_dag(self):
        done = sum(1 for s in self.state.values() if s == DONE)
        failed = [n for n, s in self.state.items() if s == FAILED]
        futile = len(self.state) - done - len(failed)
        self.log(f"Of {len(self.state)} nodes total:")
        self.log(" Done     Pre   Queued    Post   Ready   Un-Ready   Failed   Futile")
        self.log(f" {done:>4} {0:>7} {0:>8} {0:>7} {0:>7} {0:>10} {len(failed):>8} {futile:>8}")
        if not failed:
            self.log("All jobs Completed!")
            self._exit_line(0)
            return 0
        self.log("ERROR: the following job(s) failed:")
        for name in failed:
            self.log(f"---------------------- Job ----------------------\n      Node Name: {name}\n"
                     f"      Node Status: STATUS_ERROR\n      Node return val: {self.values.get(name)}")
        self._write_rescue()
        self._exit_line(1)
        return 1

    def _abort_removed(self):
        self.log("Received SIGUSR1: DAGMan job removed; removing any/all submitted HTCondor jobs...")
        self._remove_node_jobs("DAG Removed")
        self._write_rescue()
        self._exit_line(1)
        return 1

    def _remove_node_jobs(self, reason):
        actions.act(actions.REMOVE, constraint=f"DAGManJobId == {self.id}",
                    reason=f"{reason}: removed by DAGMan")

    def _write_rescue(self):
        numbers = [int(p.name[-3:]) for p in
                   self.dir.glob(f"{self.dag_path.name}.rescue[0-9][0-9][0-9]")]
        path = self.dir / f"{self.dag_path.name}.rescue{max(numbers, default=0) + 1:03d}"
        lines = [f"# Rescue DAG file, created after running\n#   the {self.dag_path.name} DAG file"]
        lines += [f"DONE {n}" for n, s in self.state.items() if s == DONE]
        path.write_text("\n".join(lines) + "\n")
        self.log(f"Writing Rescue DAG file {path.name}")

    def _exit_line(self, code):
        self.log(f"**** condor_scheduniv_exec.{self.id}.0 (condor_DAGMAN) pid {os.getpid()} "
                 f"EXITING WITH STATUS {code}")


def _parse_args(args):
    opts, i = {}, 0
    while i < len(args):
        low = args[i].lower()
        if low == "-dag":
            i += 1
            opts["dag"] = args[i]
        elif low == "-maxjobs":
            i += 1
            opts["maxjobs"] = int(args[i])
        elif low == "-autorescue":
            i += 1
            opts["autorescue"] = args[i]
        elif low in ("-dorescuefrom", "-lockfile", "-l", "-p", "-dagman", "-debug", "-maxidle",
                     "-maxpre", "-maxpost", "-outfile_dir", "-config", "-batch-name"):
            i += 1
        elif low == "-csdversion":
            i += 1
            while i < len(args) and not args[i].endswith("$"):
                i += 1
        elif low == "-force":
            opts["force"] = True
        i += 1
    if "dag" not in opts:
        raise SystemExit("condor_dagman: no -Dag file given")
    return opts


def main(args) -> int:
    return DagMan(args).run()
