"""Who and what an HTCondor submit is for: the commands added to every submit description
of a job (a ``CondorJob``, a ``CondorWorkflow``'s DAGMan job and each of its nodes).

* ``+TethysJobId``, ``+TethysApp``, ``+TethysUser``: custom job attributes (HTCondor
  manual, condor_submit: ``+<attribute> = <value>``), all strings (``TethysJobId`` as
  Tethys writes it on a DAGMan job: ``"42"``), so ``condor_q -constraint
  'TethysUser == "alice"'`` finds a portal user's jobs and ``TethysJobId == "42"`` one
  job's.
* ``accounting_group_user``: the portal user, so HTCondor's fair share (the negotiator's
  per-submitter priorities) tells portal users apart although they all submit under one
  account. HTCondor refuses names with white space; this one keeps only ASCII letters,
  digits, ``_`` and ``-`` (``.`` separates the levels of ``AccountingGroup``
  ``<group>.<user>`` and ``@`` a submitter's domain), every other run of characters
  becoming one ``_``, at most 64 characters; a name left without a letter or digit
  becomes ``user_<id>``. The unchanged user name is in ``TethysUser``.
* ``accounting_group``: the job's ``CondorScheduler.accounting_group``, or for a job
  without a scheduler ``TETHYS_COMPUTE["CONDOR_ACCOUNTING_GROUP"]``, when set.

The commands are written after the job's own attributes (the last assignment wins in a
submit description) and are never stored in the job's ``attributes``.
"""

from __future__ import annotations

import re

from ...conf import get_config

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_USER = 64


def accounting_user(username: str, user_id) -> str:
    """The ``accounting_group_user`` for portal user ``username`` (``str``) whose id is
    ``user_id``: see the module's rules. Never raises."""
    name = _NOT_ALLOWED.sub("_", str(username or ""))[:_MAX_USER]
    if not re.search(r"[A-Za-z0-9]", name):
        return f"user_{user_id}"
    return name


def _classad_string(text) -> str:
    """A ClassAd string literal of ``text`` (``"`` and ``\\`` escaped; line breaks,
    which cannot continue a submit command, as spaces)."""
    text = re.sub(r"[\r\n]+", " ", str(text))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def accounting_group(job) -> str | None:
    """The accounting group of ``job``'s submits: its scheduler's, or the setting's for a
    job without one (``None``: none)."""
    scheduler = getattr(job, "scheduler", None)
    if scheduler is not None:
        group = getattr(scheduler, "accounting_group", None)
    else:
        group = get_config().get("CONDOR_ACCOUNTING_GROUP")
    group = (group or "").strip()
    return group or None


def submit_commands(job, group: str | None = None) -> dict[str, str]:
    """The submit commands (name -> value text) every submit of ``job`` carries.

    :param job: a saved job (``pk``, ``label``, ``user``, ``scheduler``).
    :param group: the accounting group (default: :func:`accounting_group`).
    """
    user = job.user
    username = user.get_username()
    commands = {
        "+TethysJobId": _classad_string(int(job.pk)),
        "+TethysApp": _classad_string(job.label or ""),
        "+TethysUser": _classad_string(username),
        "accounting_group_user": accounting_user(username, user.pk),
    }
    group = group if group is not None else accounting_group(job)
    if group:
        commands["accounting_group"] = group
    return commands


def append_options(commands: dict[str, str]) -> list[str]:
    """``condor_submit``/``condor_submit_dag`` ``-append`` options for ``commands``."""
    options: list[str] = []
    for name, value in commands.items():
        options += ["-append", f"{name} = {value}"]
    return options


def walltime_commands(job) -> dict[str, str]:
    """``{"allowed_execute_duration": "<seconds>"}`` for a job with ``max_run_time``
    (HTCondor holds a job that has executed longer; HTCondor manual, condor_submit), else
    ``{}``."""
    seconds = getattr(job, "max_run_time", None)
    return {"allowed_execute_duration": str(int(seconds))} if seconds else {}
