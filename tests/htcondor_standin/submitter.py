"""Turning a submit description into queued jobs, as ``condor_submit`` and the schedd do.

Paths follow HTCondor: ``executable`` and ``initialdir`` are relative to the directory
condor_submit runs in; ``log``, ``output``, ``error``, ``input`` and
``transfer_input_files`` are relative to ``initialdir``. Errors are HTCondor's own
messages (``ERROR: Executable file ... does not exist``).
"""

from __future__ import annotations

import fcntl
import getpass
import os
import subprocess
import sys
import time
from pathlib import Path

from . import classads, eventlog
from .state import Queue
from .submit_lang import (
    SubmitError,
    arguments_ad,
    expand,
    parse,
    parse_arguments,
    parse_environment,
    split_list,
    truthy,
)

UNIVERSES = {"vanilla": 5, "scheduler": 7, "local": 12, "docker": 5, "container": 5, "parallel": 11}


def owner() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return str(os.getuid())


def submit(text: str, *, cwd, appends=(), count=None, batch_name=None, state=None):
    """Queue the jobs of a submit description; returns ``(cluster, [proc ads])``.

    :param cwd: the directory condor_submit runs in (relative paths start there).
    :param appends: commands added before each queue statement (``-append``).
    :param count: replace the count of the (last) queue statement (the bindings'
        ``Schedd.submit(count=N)``).
    :raises SubmitError: with HTCondor's message when the description is invalid.
    """
    cwd = Path(cwd).resolve()
    statements = parse(text, appends)
    specs, macros, attrs = [], {}, {}
    for statement in statements:
        if statement[0] == "set":
            macros[statement[1]] = statement[2]
        elif statement[0] == "attr":
            attrs[statement[1]] = statement[2]
        else:
            specs.append((dict(macros), dict(attrs), statement[1]))
    if count:
        specs = [(dict(macros), dict(attrs), int(count))] if not specs else [
            *specs[:-1], (specs[-1][0], specs[-1][1], int(count))
        ]
    if not specs:
        raise SubmitError("No queue statement in the submit description; nothing to submit.")
    with Queue(state) as queue:
        with queue.write():
            cluster = queue.next_cluster()
            ads, proc = [], 0
            for spec_macros, spec_attrs, n in specs:
                for _ in range(n):
                    ads.append(_build_ad(spec_macros, spec_attrs, cwd, cluster, proc, batch_name))
                    proc += 1
            for ad in ads:
                queue.insert(ad)
        for ad in ads:
            notes = ad.get("_standin_notes")
            event = eventlog.submitted(cluster, ad["ProcId"], notes)
            eventlog.append(ad.get("UserLog"), event)
            eventlog.append(ad.get("DAGManNodesLog"), event)
        ensure_schedd(queue.dir)
    return cluster, ads


def _build_ad(macros, attrs, cwd, cluster, proc, batch_name):
    def get(name, default=None):
        raw = macros.get(name)
        if raw is None:
            return default
        return expand(raw, macros, cluster, proc)

    universe_name = (get("universe") or "vanilla").lower()
    universe = UNIVERSES.get(universe_name, 5)
    executable = get("executable")
    if not executable:
        raise SubmitError("No 'executable' parameter was provided")
    initialdir = get("initialdir")
    iwd = (cwd / initialdir).resolve() if initialdir else cwd
    if not iwd.is_dir():
        raise SubmitError(f"No such directory: {iwd}")
    cmd = (cwd / executable).resolve() if not os.path.isabs(executable) else Path(executable)
    if not cmd.exists():
        raise SubmitError(f"Executable file {cmd} does not exist")
    if cmd.is_dir():
        raise SubmitError(f"Executable file {cmd} is a directory")
    args = parse_arguments(get("arguments", "") or "")
    now = int(time.time())
    ad = {
        "MyType": "Job",
        "TargetType": "Machine",
        "ClusterId": cluster,
        "ProcId": proc,
        "Owner": owner(),
        "User": f"{owner()}@standin",
        "GlobalJobId": f"standin#{cluster}.{proc}#{now}",
        "QDate": now,
        "EnteredCurrentStatus": now,
        "_standin_since": time.time(),
        "LastJobStatus": 0,
        "JobStatus": 1,
        "JobUniverse": universe,
        "Cmd": str(cmd),
        "Iwd": str(iwd),
        "JobPrio": int(get("priority", "0") or 0),
        "NumJobStarts": 0,
        "NumHolds": 0,
        "Out": get("output") or "/dev/null",
        "Err": get("error") or "/dev/null",
        "In": get("input") or "/dev/null",
        "ShouldTransferFiles": (get("should_transfer_files") or "IF_NEEDED").upper(),
        "WhenToTransferOutput": (get("when_to_transfer_output") or "ON_EXIT").upper(),
        "TransferExecutable": truthy(get("transfer_executable"), True),
        "RemoveKillSig": get("remove_kill_sig") or "SIGTERM",
    }
    if args:
        ad["Arguments"] = arguments_ad(args)
    log = get("log")
    if log:
        log_path = (iwd / log).resolve()
        if not log_path.parent.is_dir():
            raise SubmitError(f'Invalid log file: "{log_path}" (No such file or directory)')
        log_path.touch()
        ad["UserLog"] = str(log_path)
    nodes_log = get("dagman_log")
    if nodes_log:
        ad["DAGManNodesLog"] = str((iwd / nodes_log).resolve())
    for name, attr in (("transfer_input_files", "TransferInput"),
                       ("transfer_output_files", "TransferOutput")):
        value = get(name)
        if value:
            ad[attr] = ",".join(split_list(value))
    environment = get("environment")
    if environment:
        env = parse_environment(environment)
        ad["Environment"] = " ".join(f"{k}={v}" for k, v in env.items())
    getenv = get("getenv")
    if getenv:
        ad["GetEnv"] = getenv.strip()
    name = batch_name or get("batch_name")
    if name:
        ad["JobBatchName"] = name
    notes = get("submit_event_notes")
    if notes:
        ad["_standin_notes"] = notes
    for key, attr in (("allowed_execute_duration", "AllowedExecuteDuration"),
                      ("allowed_job_duration", "AllowedJobDuration")):
        value = get(key)
        if value:
            ad[attr] = classads.parse_value(value)
    for key in ("request_cpus", "request_memory", "request_disk"):
        value = get(key)
        if value:
            attr = "Request" + key.split("_")[1].capitalize()
            ad[attr] = classads.parse_value(value)
    _accounting(ad, get)
    for attr_name, raw in attrs.items():
        try:
            ad[attr_name] = classads.parse_value(expand(raw, macros, cluster, proc))
        except ValueError as exc:
            raise SubmitError(str(exc)) from None
    if truthy(get("hold")):
        ad.update(
            JobStatus=5,
            HoldReason="submitted on hold at user's request",
            HoldReasonCode=15,
            HoldReasonSubCode=0,
        )
    return ad


def _accounting(ad, get):
    """``accounting_group``/``accounting_group_user`` as condor_submit turns them into
    ``AcctGroup``, ``AcctGroupUser`` and ``AccountingGroup`` (``<group>.<user>``, or the
    user alone); the user defaults to the owner. A name holding white space is refused,
    as the negotiator ignores such submitters."""
    group, user = get("accounting_group"), get("accounting_group_user")
    if not group and not user:
        return
    for key, value in (("accounting_group", group), ("accounting_group_user", user)):
        if value and any(ch.isspace() for ch in value.strip()):
            raise SubmitError(f"Invalid {key}: {value.strip()}")
    user = (user or ad["Owner"]).strip()
    ad["AcctGroupUser"] = user
    if group:
        ad["AcctGroup"] = group.strip()
        ad["AccountingGroup"] = f"{group.strip()}.{user}"
    else:
        ad["AccountingGroup"] = user


def ensure_schedd(state_dir):
    """Start the stand-in schedd for this pool unless one is running."""
    lock_path = Path(state_dir) / "schedd.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a schedd holds the lock: it is alive
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["HTCONDOR_STANDIN_STATE"] = str(state_dir)
    with open(Path(state_dir) / "schedd.out", "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "tests.htcondor_standin.schedd", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=str(state_dir),
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return True
