"""A stand-in for ``htcondor2.Schedd``, backed by the stand-in pool (tests only).

The bindings engine is tested at its boundary: ``TETHYS_COMPUTE["CONDOR_SCHEDD_FACTORY"]``
points at :class:`StandinSchedd`, which has ``htcondor2.Schedd``'s signatures
(``submit``, ``query``, ``history``, ``act``) and answers with real ``classad2.ClassAd``
objects, while the jobs really run in the pool named by ``$HTCONDOR_STANDIN_STATE``.
"""

from __future__ import annotations

import os

import classad2
import htcondor2

from . import actions, classads, query
from .state import Queue, public
from .submit_lang import SubmitError
from .submitter import submit

#: Every call, as ``(method, arguments)`` (tests check what the engine asked).
CALLS: list = []


class StandinSubmitResult:
    def __init__(self, cluster, ads):
        self._cluster, self._ads = cluster, ads

    def cluster(self):
        return self._cluster

    def first_proc(self):
        return 0

    def num_procs(self):
        return len(self._ads)

    def clusterad(self):
        return _to_classad(self._ads[0])


def _to_classad(ad):
    result = classad2.ClassAd()
    for key, value in public(ad).items():
        if isinstance(value, dict):
            result[key] = classad2.ExprTree(value["expr"])
        elif value is not None:
            result[key] = value
    return result


def _project(ad, projection):
    if not projection:
        return ad
    wanted = {p.lower() for p in projection}
    return {k: v for k, v in ad.items() if k.lower() in wanted}


class StandinSchedd:
    """``htcondor2.Schedd()`` for the stand-in pool of ``$HTCONDOR_STANDIN_STATE``."""

    def __init__(self, location=None):
        self.state = os.environ.get("HTCONDOR_STANDIN_STATE")
        if not self.state:
            raise htcondor2.HTCondorException("Unable to locate local daemon")

    def submit(self, description, count=0, spool=False, itemdata=None, queue=None):
        CALLS.append(("submit", {"description": str(description), "count": count}))
        if not isinstance(description, htcondor2.Submit):
            raise TypeError("description must be an htcondor2.Submit")
        try:
            cluster, ads = submit(str(description), cwd=os.getcwd(), count=count or None,
                                  state=self.state)
        except SubmitError as exc:
            raise htcondor2.HTCondorException(str(exc)) from None
        return StandinSubmitResult(cluster, ads)

    def _select(self, ads, constraint):
        text = str(constraint) if constraint is not None else "true"
        try:
            return actions.select(ads, constraint=text)
        except ValueError as exc:
            raise htcondor2.HTCondorException(str(exc)) from None

    def query(self, constraint="True", projection=(), callback=None, limit=-1, opts=None):
        CALLS.append(("query", {"constraint": str(constraint), "projection": list(projection)}))
        with Queue(self.state) as pool:
            ads = [public(ad) for ad in pool.queue()]
        chosen = self._select(ads, constraint)
        if limit and limit > 0:
            chosen = chosen[:limit]
        return [_to_classad(_project(ad, projection)) for ad in chosen]

    def history(self, constraint=None, projection=(), match=-1, since=None):
        CALLS.append(("history", {"constraint": str(constraint), "projection": list(projection)}))
        with Queue(self.state) as pool:
            ads = [public(ad) for ad in pool.history()]
        chosen = self._select(ads, constraint)
        if match and match > 0:
            chosen = chosen[:match]
        return [_to_classad(_project(ad, projection)) for ad in chosen]

    def act(self, action, job_spec, reason=None):
        CALLS.append(("act", {"action": action.name, "job_spec": str(job_spec)}))
        name = {"Hold": actions.HOLD, "Release": actions.RELEASE, "Remove": actions.REMOVE}.get(
            action.name)
        if name is None:
            raise htcondor2.HTCondorException(f"The stand-in does not implement {action.name}.")
        ids, constraint = [], None
        if isinstance(job_spec, (list, tuple)):
            ids = [actions.parse_job_id(str(j)) for j in job_spec]
        elif isinstance(job_spec, int):
            ids = [(job_spec, None)]
        else:
            constraint = str(job_spec)
        changed, _, _ = actions.act(name, ids=ids, constraint=constraint, reason=reason,
                                    state=self.state)
        result = classad2.ClassAd()
        result["TotalSuccess"] = len(changed)
        result["TotalNotFound"] = 0 if changed else 1
        return result


__all__ = ["CALLS", "StandinSchedd", "classads", "query"]
