"""Entry point of every stand-in tool: ``python -m tests.htcondor_standin.cli <tool> args``.

The wrappers written by :func:`tests.htcondor_standin.install` call it as
``condor_submit``, ``condor_q``, ``condor_history``, ``condor_rm``, ``condor_hold``,
``condor_release``, ``condor_vacate_job``, ``condor_vacate``, ``condor_submit_dag``,
``condor_wait`` and ``condor_dagman``.
Outputs, messages and exit codes follow the HTCondor manual pages of those tools.
"""

from __future__ import annotations

import os
import sys
import time

from . import actions, eventlog, query
from .submit_lang import SubmitError
from .submitter import owner, submit


def condor_submit(args):
    appends, terse, batch, path = [], False, None, None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-append", "-a"):
            i += 1
            appends.append(args[i])
        elif arg == "-terse":
            terse = True
        elif arg in ("-batch-name", "-batch_name"):
            i += 1
            batch = args[i]
        elif arg in ("-verbose", "-v", "-disable", "-spool"):
            pass
        elif arg in ("-name", "-remote", "-pool"):
            i += 1
        elif arg.startswith("-") and arg != "-":
            return "", f"ERROR: unknown option {arg}\n", 1
        else:
            path = arg
        i += 1
    try:
        if path in (None, "-"):
            text = sys.stdin.read()
        else:
            try:
                with open(path) as handle:
                    text = handle.read()
            except OSError:
                return "Submitting job(s)\n", f"ERROR: Can't open \"{path}\"  with flags 00 (No such file or directory)\n", 1
        cluster, ads = submit(text, cwd=os.getcwd(), appends=appends, batch_name=batch)
    except SubmitError as exc:
        return "Submitting job(s)\n", f"\nERROR: {exc}\n", 1
    if terse:
        return f"{cluster}.0 - {cluster}.{len(ads) - 1}\n", "", 0
    return (f"Submitting job(s){'.' * len(ads)}\n"
            f"{len(ads)} job(s) submitted to cluster {cluster}.\n"), "", 0


def _action(action, args):
    ids, owners, constraint, reason, fast = [], [], None, None, False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-constraint", "-const"):
            i += 1
            constraint = args[i]
        elif arg == "-reason":
            i += 1
            reason = args[i]
        elif arg == "-all":
            owners.append(owner())
        elif arg in ("-name", "-pool", "-subcode"):
            i += 1
        elif arg == "-fast" and action == actions.VACATE:
            fast = True
        elif arg in ("-forcex", "-debug"):
            pass
        elif arg.startswith("-"):
            return "", f"Error: unrecognized option {arg}\n", 1
        else:
            job_id = actions.parse_job_id(arg)
            if job_id:
                ids.append(job_id)
            else:
                owners.append(arg)
        i += 1
    if not (ids or owners or constraint):
        return "", "You must specify a job id, a user name, -constraint or -all.\n", 1
    try:
        _, messages, errors = actions.act(action, ids=ids, owners=owners, constraint=constraint,
                                          reason=reason, fast=fast)
    except ValueError as exc:
        return "", f"{exc}\n", 1
    out = "".join(m + "\n" for m in messages)
    err = "".join(e + "\n" for e in errors)
    return out, err, 1 if errors else 0


def condor_vacate(args):
    """``condor_vacate`` (an administrator's command to the machine): every job running
    on it is evicted, with VacateReasonCode 1010 (StartdVacateCommand); ``-fast`` kills."""
    fast = "-fast" in args
    changed, _, _ = actions.act(actions.VACATE, constraint="JobStatus == 2", fast=fast,
                                code=1010)
    return ("Sent \"Vacate-Claim\" to startd on standin\n" if changed else ""), "", 0


def condor_wait(args):
    timeout, num, log, job = None, None, None, None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-wait":
            i += 1
            timeout = float(args[i])
        elif arg == "-num":
            i += 1
            num = int(args[i])
        elif arg in ("-debug", "-status", "-echo") or arg.startswith("-echo"):
            pass
        elif log is None:
            log = arg
        else:
            job = actions.parse_job_id(arg)
            if job is None:
                return "", f"Invalid job id: {arg}\n", 1
        i += 1
    if log is None:
        return "", "Usage: condor_wait [-wait seconds] [-num number-of-jobs] log-file [job-id]\n", 1
    deadline = None if timeout is None else time.time() + timeout
    while True:
        submitted, finished = set(), set()
        for code, cluster, proc in eventlog.read_events(log):
            if job and (cluster != job[0] or (job[1] is not None and proc != job[1])):
                continue
            if code == eventlog.SUBMIT:
                submitted.add((cluster, proc))
            elif code in (eventlog.TERMINATED, eventlog.ABORTED):
                finished.add((cluster, proc))
        if num is not None and len(finished) >= num:
            return f"Specified number of jobs ({num}) done.\n", "", 0
        if submitted and submitted <= finished and num is None:
            return "All jobs done.\n", "", 0
        if deadline is not None and time.time() >= deadline:
            return "Time expired.\n", "", 1
        time.sleep(0.05)


def _answer_delay(tool):
    """A busy schedd: ``<state>/<tool>.delay`` holds the seconds the tool takes before
    it answers (``StandIn.slow``), as ``condor_q`` does when the schedd is overloaded."""
    state = os.environ.get("HTCONDOR_STANDIN_STATE")
    if not state:
        return
    try:
        seconds = float(open(os.path.join(state, f"{tool}.delay")).read())  # noqa: SIM115
    except (OSError, ValueError):
        return
    time.sleep(max(seconds, 0.0))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    tool, args = argv[0], argv[1:]
    if tool == "condor_dagman":
        from .dagman import main as dagman_main

        sys.exit(dagman_main(args))
    if tool == "condor_submit_dag":
        from .submit_dag import condor_submit_dag as handler
    else:
        handler = {
            "condor_submit": condor_submit,
            "condor_q": lambda a: query.run(a),
            "condor_history": lambda a: query.run(a, history=True),
            "condor_rm": lambda a: _action(actions.REMOVE, a),
            "condor_hold": lambda a: _action(actions.HOLD, a),
            "condor_release": lambda a: _action(actions.RELEASE, a),
            "condor_vacate_job": lambda a: _action(actions.VACATE, a),
            "condor_vacate": condor_vacate,
            "condor_wait": condor_wait,
        }.get(tool)
        if handler is None:
            sys.stderr.write(f"{tool}: not part of the HTCondor stand-in\n")
            sys.exit(2)
    _answer_delay(tool)
    out, err, code = handler(args)
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
