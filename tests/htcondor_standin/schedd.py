"""The stand-in schedd: runs queued jobs as local processes.

One process per pool (``python -m tests.htcondor_standin.schedd <state dir>``), started by
the first tool that queues a job and gone after a while with an empty queue. Every
``STANDIN_TICK`` seconds it:

* applies holds, releases and removals recorded by the tools (stopping processes and
  writing the Held/Released/Aborted events);
* starts Idle jobs (vanilla jobs take one of ``STANDIN_SLOTS`` slots; scheduler-universe
  jobs such as DAGMan do not) once they waited ``STANDIN_START_DELAY`` seconds, in their
  initial directory, or in a scratch directory with their inputs copied in when
  ``should_transfer_files = YES``; a missing input puts the job on hold (HoldReasonCode
  13), as HTCondor does;
* measures what running jobs use (:mod:`.usage`) and holds those that break the policy
  (:mod:`.policy`: over ``request_memory``, code 34; over ``allowed_execute_duration``,
  code 47);
* evicts jobs asked to vacate (``condor_vacate_job``): back to Idle with
  ``LastVacateTime``, ``VacateReasonCode``, ``NumVacates`` and the Evicted event;
* collects exited jobs: ExitCode/ExitBySignal, outputs transferred back, the Terminated
  event, and the job leaves the queue for the history.

Events go to the job's user log and, for DAG nodes, to DAGMan's nodes log.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import SHUTDOWN_MARKER, classads, eventlog
from .policy import HoldJob, over_memory, while_running
from .state import Queue, public
from .submit_lang import _split_new_syntax
from .usage import Usage, reap

TICK = float(os.environ.get("STANDIN_TICK", "0.05"))
START_DELAY = float(os.environ.get("STANDIN_START_DELAY", "0.05"))
SLOTS = int(os.environ.get("STANDIN_SLOTS", "32"))
IDLE_EXIT = float(os.environ.get("STANDIN_IDLE_EXIT", "20"))
KILL_GRACE = 2.0
#: Seconds between two ``/proc`` samples of a running job, and between two updates of its
#: usage in the queue (HTCondor's ``STARTER_UPDATE_INTERVAL``, shortened for tests).
SAMPLE_INTERVAL = 0.1
UPDATE_INTERVAL = float(os.environ.get("STANDIN_UPDATE_INTERVAL", "0.5"))

# HTCondor's HoldReasonCodes used here.
UNABLE_TO_OPEN_OUTPUT = 7
FAILED_TO_CREATE_PROCESS = 6
TRANSFER_OUTPUT_ERROR = 12
TRANSFER_INPUT_ERROR = 13
IWD_ERROR = 14


@dataclass
class Running:
    popen: object
    cwd: Path
    scratch: Path
    transfer: bool
    started: float
    files: list = field(default_factory=list)
    stopping: str | None = None  # "hold" or "remove": the exit is not a termination
    kill_deadline: float | None = None
    inputs: set = field(default_factory=set)
    usage: Usage = field(default_factory=Usage)
    rusage: object = None
    last_sample: float = 0.0
    last_update: float = 0.0
    vacate: tuple | None = None


class Schedd:
    def __init__(self, state_dir):
        self.dir = Path(state_dir)
        self.queue = Queue(self.dir)
        self.running: dict[tuple[int, int], Running] = {}
        self.last_version = None
        self.idle_since = time.time()
        self.stop_requested = False
        self.lock_fd = None

    # --- lifecycle -------------------------------------------------------------------------
    def run(self):
        self.lock_fd = os.open(self.dir / "schedd.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another schedd serves this pool
        if self._shut_down():
            return  # started just as the pool was shut down: never serve it
        (self.dir / "schedd.pid").write_text(str(os.getpid()))
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        while not self.stop_requested and not self._shut_down():
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - keep serving; show it in schedd.out
                print(f"schedd tick failed: {exc!r}", file=sys.stderr, flush=True)
            if self._should_exit():
                return
            time.sleep(TICK)
        self._kill_all()

    def _shut_down(self):
        """Whether the pool was shut down (``StandIn.shutdown`` leaves a ``shutdown`` file),
        so a schedd a tool started a moment before never outlives it."""
        return (self.dir / SHUTDOWN_MARKER).exists()

    def _on_term(self, *_):
        self.stop_requested = True

    def _kill_all(self):
        for run in self.running.values():
            _signal_group(run.popen, signal.SIGKILL)

    def _should_exit(self):
        if self.running:
            self.idle_since = time.time()
            return False
        if time.time() - self.idle_since < IDLE_EXIT:
            return False
        with self.queue.write():
            if self.queue.queue():
                self.idle_since = time.time()
                return False
            # Release the lock while no one can queue a job: a tool that queues one after
            # this commit finds the lock free and starts a new schedd.
            os.close(self.lock_fd)
            with contextlib.suppress(FileNotFoundError):
                (self.dir / "schedd.pid").unlink()
        return True

    # --- one pass ------------------------------------------------------------------------------
    def tick(self):
        exited = {}
        for key, run in self.running.items():
            if run.popen.returncode is None:
                rusage = reap(run.popen)
                if rusage is not None:
                    run.rusage = rusage
            if run.popen.returncode is not None:
                exited[key] = run
        now = time.time()
        deadlines = any(run.kill_deadline and run.kill_deadline <= now for run in self.running.values())
        updates = self._sample(exited, now)
        version = self.queue.data_version()
        if (version == self.last_version and not exited and not deadlines and not updates
                and not self._waiting):
            return
        if (version == self.last_version and not exited and not deadlines
                and not self._waiting):
            # Only running jobs' periodic updates are due, and no tool changed the queue
            # since the last pass: no other job can have anything to do, so read and
            # write the running jobs' ads only (not every ad of a long queue).
            self._update_running(exited, now)
            return
        self.last_version = version
        self._waiting = False
        with self.queue.write():
            idle = []
            for ad in self.queue.queue():
                key = (ad["ClusterId"], ad["ProcId"])
                if not self._tick_one(ad, key, exited, now):
                    continue
                if ad["_in_queue"] and ad["JobStatus"] == 1:
                    idle.append(ad)
            self._start_idle(idle, now)
        self.last_version = self.queue.data_version()

    _waiting = False

    def _update_running(self, exited, now):
        with self.queue.write():
            if self.queue.data_version() != self.last_version:
                self.last_version = None  # a tool wrote meanwhile: a full pass next tick
                return
            for key in list(self.running):
                found = self.queue.get(*key)
                if found is None or not found[1]:
                    continue
                self._tick_one(found[0], key, exited, now)
        self.last_version = self.queue.data_version()

    def _tick_one(self, ad, key, exited, now):
        """Advance one job's ad and store it (queue or history) when it changed. False
        when handling it failed (printed; one job's trouble stops no other)."""
        try:
            changed = self._handle(ad, key, exited, now)
        except Exception as exc:  # noqa: BLE001 - one job's trouble stops no other
            print(f"job {key}: {exc!r}", file=sys.stderr, flush=True)
            return False
        if changed:
            if ad["_in_queue"]:
                self.queue.update(_strip(ad))
            else:
                self.queue.to_history(_strip(ad))
        return True

    def _sample(self, exited, now):
        """Sample the usage of the running jobs; True when one is due for an update."""
        due = False
        for key, run in self.running.items():
            if key in exited or run.stopping:
                continue
            if now - run.last_sample >= SAMPLE_INTERVAL:
                run.last_sample = now
                run.usage.sample(run.popen.pid, run.scratch)
            if now - run.last_update >= UPDATE_INTERVAL:
                due = True
        return due

    def _update_usage(self, ad, run, now):
        """Write a running job's usage so far into its ad (as the starter's periodic
        updates do); returns True."""
        run.last_update = now
        ad.update(run.usage.attributes())
        committed = float(ad.get("_standin_wall_committed") or 0)
        ad["RemoteWallClockTime"] = round(committed + (now - run.started), 2)
        return True

    def _end_run(self, ad, run, evicted=False):
        """Fold a finished run's usage into the ad: the run's peak and CPU, and its wall
        time added to ``RemoteWallClockTime`` (HTCondor: never reset by an eviction)."""
        run.usage.exited(run.rusage, run.scratch)
        wall = round(time.time() - run.started, 2)
        committed = float(ad.get("_standin_wall_committed") or 0) + wall
        cumulative_user = float(ad.get("CumulativeRemoteUserCpu") or 0) + run.usage.user_cpu
        cumulative_sys = float(ad.get("CumulativeRemoteSysCpu") or 0) + run.usage.sys_cpu
        attributes = run.usage.attributes()
        if evicted:  # an evicted run's CPU is not counted in RemoteUserCpu/RemoteSysCpu
            attributes.pop("RemoteUserCpu")
            attributes.pop("RemoteSysCpu")
        ad.update(attributes, _standin_wall_committed=committed,
                  RemoteWallClockTime=round(committed, 2), LastRemoteWallClockTime=wall,
                  CumulativeRemoteUserCpu=round(cumulative_user, 2),
                  CumulativeRemoteSysCpu=round(cumulative_sys, 2))

    def _handle(self, ad, key, exited, now):
        """Bring one job up to date; returns True when its ad changed."""
        ad["_in_queue"] = True
        changed = False
        for event, reason, code in ad.pop("_standin_pending", None) or []:
            changed = True
            if event == "hold":
                self._stop(key, "hold")
                _log(ad, eventlog.held(*key, reason, code))
            elif event == "release":
                _log(ad, eventlog.released(*key, reason))
            elif event == "remove":
                self._stop(key, "remove", ad.get("RemoveKillSig"))
            elif event == "vacate":
                self._stop(key, "vacate", "SIGKILL" if code < 0 else None)
                if key in self.running:
                    self.running[key].vacate = (reason, abs(code))
        run = self.running.get(key)
        status = ad["JobStatus"]
        if run is not None and run.stopping == "vacate" and key in exited and status == 2:
            self._evicted(ad, key, run, now)
            return True
        if run is not None and run.stopping and key in exited and status != 3:
            self._end_run(ad, run)
            self._cleanup(key)  # stopped by a hold (perhaps released since): not an exit
            return True
        if run is not None and run.kill_deadline and run.kill_deadline <= now and key not in exited:
            _signal_group(run.popen, signal.SIGKILL)
            run.kill_deadline = None
        if status == 3:
            if run is not None and key not in exited:
                return changed
            if run is not None:
                self._end_run(ad, run)
                self._cleanup(key)
            _log(ad, eventlog.aborted(*key, ad.get("RemoveReason", "via condor_rm")))
            ad["_in_queue"] = False
            return True
        if status == 5:
            if run is not None and key in exited:
                self._end_run(ad, run)
                self._cleanup(key)
                return True
            return changed
        if status == 2:
            if run is None:
                # The schedd restarted while the job ran: HTCondor would requeue it.
                ad.update(JobStatus=1, LastJobStatus=2, EnteredCurrentStatus=int(now))
                return True
            if key in exited:
                self._finish(ad, key, run)
                return True
            if not run.stopping:
                broken = while_running(ad, run.usage, now - run.started)
                if broken is not None:
                    self._hold(ad, key, broken, now)
                    return True
            if now - run.last_update >= UPDATE_INTERVAL:
                return self._update_usage(ad, run, now)
        return changed

    def _hold(self, ad, key, hold, now):
        """Hold a running job for breaking the policy: stop it (at once for memory, as
        the kernel's OOM killer does) and record the hold."""
        self._stop(key, "hold", "SIGKILL" if hold.kill else None)
        ad.update(LastJobStatus=2, JobStatus=5, EnteredCurrentStatus=int(now),
                  HoldReason=hold.reason, HoldReasonCode=hold.code,
                  HoldReasonSubCode=hold.subcode, NumHolds=int(ad.get("NumHolds") or 0) + 1)
        # The run's usage and wall time up to the hold (RemoteWallClockTime is at least
        # the duration a walltime hold enforced, whatever the last periodic update said).
        self._update_usage(ad, self.running[key], now)
        _log(ad, eventlog.held(*key, hold.reason, hold.code, hold.subcode))

    def _evicted(self, ad, key, run, now):
        """A vacated run ended: the job goes back to Idle to run again (HTCondor manual:
        ``LastVacateTime``, ``VacateReason``/``VacateReasonCode``, ``NumVacates``;
        ``RemoteWallClockTime`` keeps the run, ``RemoteUserCpu`` does not)."""
        reason, code = getattr(run, "vacate", None) or ("via condor_vacate_job", 1004)
        self._end_run(ad, run, evicted=True)
        self._cleanup(key)
        ad.update(LastJobStatus=2, JobStatus=1, EnteredCurrentStatus=int(now),
                  LastVacateTime=int(now), VacateReason=reason, VacateReasonCode=code,
                  VacateReasonSubCode=0, NumVacates=int(ad.get("NumVacates") or 0) + 1,
                  LastRemoteHost=ad.get("RemoteHost", "slot1@standin"), _standin_since=now)
        ad.pop("RemoteHost", None)
        _log(ad, eventlog.evicted(*key, ad))

    # --- starting ----------------------------------------------------------------------------------
    def _start_idle(self, idle, now):
        busy = sum(1 for key, run in self.running.items() if not run.stopping)
        idle.sort(key=lambda a: (-int(a.get("JobPrio") or 0), a["ClusterId"], a["ProcId"]))
        for ad in idle:
            scheduler = ad.get("JobUniverse") in (7, 12)
            if not scheduler and busy >= SLOTS:
                break
            since = ad.get("_standin_since") or ad.get("EnteredCurrentStatus") or 0
            if now - float(since) < START_DELAY:
                self._waiting = True
                continue
            key = (ad["ClusterId"], ad["ProcId"])
            if key in self.running:
                continue
            try:
                self.running[key] = self._spawn(ad, key)
            except HoldJob as hold:
                ad.update(
                    LastJobStatus=1, JobStatus=5, EnteredCurrentStatus=int(now),
                    HoldReason=hold.reason, HoldReasonCode=hold.code,
                    HoldReasonSubCode=hold.subcode, NumHolds=int(ad.get("NumHolds") or 0) + 1,
                )
                _log(ad, eventlog.held(*key, hold.reason, hold.code, hold.subcode))
                self.queue.update(_strip(ad))
                continue
            if not scheduler:
                busy += 1
            starts = int(ad.get("NumJobStarts") or 0) + 1
            ad.update(
                LastJobStatus=1, JobStatus=2, EnteredCurrentStatus=int(now),
                JobCurrentStartDate=int(now), NumJobStarts=starts, RemoteHost="slot1@standin",
            )
            ad.setdefault("JobStartDate", int(now))
            _log(ad, eventlog.executing(*key))
            self.queue.update(_strip(ad))

    def _spawn(self, ad, key):
        iwd = Path(ad["Iwd"])
        if not iwd.is_dir():
            raise HoldJob(f"Error from slot1@standin: Failed to change to initial directory "
                          f"{iwd}: (errno 2) No such file or directory", IWD_ERROR, 2)
        starts = int(ad.get("NumJobStarts") or 0)
        scratch = self.dir / "execute" / f"dir_{key[0]}_{key[1]}_{starts}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        transfer = ad.get("ShouldTransferFiles") == "YES" and ad.get("JobUniverse") not in (7, 12)
        executable = ad["Cmd"]
        inputs = set()
        if transfer:
            for name in [n for n in (ad.get("TransferInput") or "").split(",") if n]:
                source = (iwd / name)
                if not source.exists():
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise HoldJob(
                        "Transfer input files failure at access point standin while sending "
                        "files to the execution point. Details: reading from file "
                        f"{source.resolve()}: (errno 2) No such file or directory",
                        TRANSFER_INPUT_ERROR, 2,
                    )
                inputs.add(_copy_in(source, scratch, name.endswith("/")))
            if ad.get("TransferExecutable", True):
                target = scratch / Path(executable).name
                shutil.copy2(executable, target)
                inputs.add(target.name)
                executable = str(target)
        cwd = scratch if transfer else iwd
        out_path = _std_path(ad["Out"], iwd, scratch / "_condor_stdout", transfer)
        err_path = _std_path(ad["Err"], iwd, scratch / "_condor_stderr", transfer)
        try:
            stdout = open(out_path, "ab" if out_path == os.devnull else "wb")  # noqa: SIM115
            stderr = stdout if err_path == out_path else open(  # noqa: SIM115
                err_path, "ab" if err_path == os.devnull else "wb")
        except OSError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise HoldJob(f"Error from slot1@standin: Failed to open '{exc.filename}' as standard "
                          f"output: {exc.strerror} (errno {exc.errno})",
                          UNABLE_TO_OPEN_OUTPUT, exc.errno or 0) from None
        stdin_path = ad.get("In") or os.devnull
        stdin_path = stdin_path if os.path.isabs(stdin_path) else str(cwd / stdin_path)
        (scratch / ".job.ad").write_text(_long(ad))
        env = _environment(ad, key, scratch)
        args = _split_new_syntax(ad["Arguments"], "arguments") if ad.get("Arguments") else []
        try:
            with open(stdin_path, "rb") as stdin:
                popen = _popen([executable, *args], cwd, stdin, stdout, stderr, env)
        except OSError as exc:
            stdout.close()
            stderr.close()
            shutil.rmtree(scratch, ignore_errors=True)
            raise HoldJob(f"Error from slot1@standin: Failed to execute '{executable}': "
                          f"(errno={exc.errno}: '{exc.strerror}')",
                          FAILED_TO_CREATE_PROCESS, exc.errno or 0) from None
        started = time.time()
        return Running(popen=popen, cwd=cwd, scratch=scratch, transfer=transfer,
                       started=started, files=[stdout, stderr], inputs=inputs,
                       last_update=started)

    # --- stopping and finishing -------------------------------------------------------------------
    def _stop(self, key, why, kill_sig=None):
        run = self.running.get(key)
        if run is None or run.stopping:
            return
        run.stopping = why
        sig = getattr(signal, str(kill_sig or "SIGTERM"), signal.SIGTERM)
        if sig == signal.SIGUSR1:
            # DAGMan's remove_kill_sig: it removes its node jobs, then exits.
            with contextlib.suppress(ProcessLookupError):
                run.popen.send_signal(sig)
            run.kill_deadline = time.time() + 15
        else:
            _signal_group(run.popen, sig)
            run.kill_deadline = time.time() + KILL_GRACE

    def _cleanup(self, key):
        run = self.running.pop(key)
        for handle in run.files:
            with contextlib.suppress(Exception):
                handle.close()
        _signal_group(run.popen, signal.SIGKILL)
        shutil.rmtree(run.scratch, ignore_errors=True)

    def _finish(self, ad, key, run):
        code = run.popen.returncode
        for handle in run.files:
            handle.close()
        self._end_run(ad, run)
        try:
            # Over its memory between two samples: a hard limit would have stopped it.
            over = over_memory(ad, run.usage.memory_mb)
            if over is not None:
                raise over
            if run.transfer:
                try:
                    _transfer_out(ad, run)
                except OSError as exc:
                    raise HoldJob("Transfer output files failure at access point standin: "
                                  f"{exc}", TRANSFER_OUTPUT_ERROR, exc.errno or 0) from None
        except HoldJob as hold:
            self._cleanup(key)
            ad.update(LastJobStatus=2, JobStatus=5, EnteredCurrentStatus=int(time.time()),
                      HoldReason=hold.reason, HoldReasonCode=hold.code,
                      HoldReasonSubCode=hold.subcode, NumHolds=int(ad.get("NumHolds") or 0) + 1)
            _log(ad, eventlog.held(*key, hold.reason, hold.code, hold.subcode))
            return
        self._cleanup(key)
        now = int(time.time())
        ad.update(LastJobStatus=2, JobStatus=4, EnteredCurrentStatus=now, CompletionDate=now)
        if code is not None and code < 0:
            ad.update(ExitBySignal=True, ExitSignal=-code)
            ad.pop("ExitCode", None)
            _log(ad, eventlog.terminated(*key, signal=-code, ad=ad))
        else:
            ad.update(ExitBySignal=False, ExitCode=code)
            _log(ad, eventlog.terminated(*key, exit_code=code, ad=ad))
        ad["_in_queue"] = False


# --- helpers ---------------------------------------------------------------------------------------
def _strip(ad):
    ad = dict(ad)
    ad.pop("_in_queue", None)
    return ad


def _log(ad, event):
    eventlog.append(ad.get("UserLog"), event)
    eventlog.append(ad.get("DAGManNodesLog"), event)


def _signal_group(popen, sig):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def _popen(args, cwd, stdin, stdout, stderr, env):
    import subprocess

    return subprocess.Popen(args, cwd=str(cwd), stdin=stdin, stdout=stdout, stderr=stderr,
                            env=env, start_new_session=True, close_fds=True)


def _std_path(value, iwd, scratch_path, transfer):
    if not value or value == "/dev/null":
        return os.devnull
    if transfer:
        return str(scratch_path)
    return value if os.path.isabs(value) else str(iwd / value)


def _copy_in(source, scratch, contents_only):
    if source.is_dir():
        if contents_only:
            shutil.copytree(source, scratch, dirs_exist_ok=True)
            return ""
        shutil.copytree(source, scratch / source.name, dirs_exist_ok=True)
    else:
        shutil.copy2(source, scratch / source.name)
    return source.name


def _transfer_out(ad, run):
    iwd = Path(ad["Iwd"])
    for std, attr in (("_condor_stdout", "Out"), ("_condor_stderr", "Err")):
        value = ad.get(attr)
        if value and value != "/dev/null" and (run.scratch / std).exists():
            shutil.copy2(run.scratch / std, value if os.path.isabs(value) else iwd / value)
    wanted = [n for n in (ad.get("TransferOutput") or "").split(",") if n]
    if wanted:
        for name in wanted:
            source = run.scratch / name
            if not source.exists():
                raise HoldJob(
                    "Transfer output files failure at access point standin while receiving "
                    f"files from the execution point. Details: reading from file {source}: "
                    "(errno 2) No such file or directory", TRANSFER_OUTPUT_ERROR, 2)
            _copy_back(source, iwd / source.name)
        return
    for path in run.scratch.iterdir():
        if path.name.startswith(("_condor_", ".job.ad")) or path.is_dir():
            continue
        if path.name in run.inputs and path.stat().st_mtime <= run.started:
            continue
        _copy_back(path, iwd / path.name)


def _copy_back(source, target):
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)


def _environment(ad, key, scratch):
    env = {}
    getenv = str(ad.get("GetEnv") or "").strip()
    if getenv.lower() in ("true", "yes"):
        env.update(os.environ)
    elif getenv and getenv.lower() not in ("false", "no"):
        patterns = [p.strip() for p in getenv.split(",") if p.strip()]
        env.update({k: v for k, v in os.environ.items()
                    if any(fnmatch.fnmatchcase(k, p) for p in patterns)})
    for item in str(ad.get("Environment") or "").split():
        name, _, value = item.partition("=")
        env[name] = value
    env.update(
        _CONDOR_SCRATCH_DIR=str(scratch),
        _CONDOR_SLOT="slot1",
        _CONDOR_JOB_AD=str(scratch / ".job.ad"),
        _CONDOR_JOB_IWD=ad["Iwd"],
        CONDOR_ID=f"{key[0]}.{key[1]}",
        HTCONDOR_STANDIN_STATE=os.environ.get("HTCONDOR_STANDIN_STATE", ""),
    )
    if "PYTHONPATH" in os.environ and ad.get("JobUniverse") == 7:
        env.setdefault("PYTHONPATH", os.environ["PYTHONPATH"])
    return env


def _long(ad):
    return "".join(f"{k} = {classads.literal(v)}\n" for k, v in sorted(public(_strip(ad)).items()))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    Schedd(argv[0]).run()


if __name__ == "__main__":
    main()
