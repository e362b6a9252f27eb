"""``condor_q`` and ``condor_history``: selecting job ads and printing them.

Selection: job ids (``5``, ``5.1``) and owner names are ORed, ``-constraint`` is ANDed
with them. ``condor_q`` shows only the current user's jobs unless ids, owners or
``-allusers`` are given (HTCondor 8.5+). ``condor_history`` lists the most recent first.

Output: ``-format <printf> <attr>`` (repeatable, no separator added: ``%d %s %f %g %v
%V``; an undefined attribute prints ``undefined`` with ``%v``/``%V`` and nothing
otherwise), ``-af[:jlhVrt,n]`` (autoformat), ``-long``, ``-json``, ``-attributes``,
``-totals``, or a default table.
"""

from __future__ import annotations

import json
import re
import time

from . import classads
from .actions import parse_job_id, select
from .state import Queue, public
from .submitter import owner

_SPEC = re.compile(r"%(%|[-+ 0#]*\d*(?:\.\d+)?[dsfgeivVxc])")
_STATUS_LETTER = {0: "U", 1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: ">", 7: "S"}
_NAMES = {1: "idle", 2: "running", 3: "removed", 4: "completed", 5: "held", 7: "suspended"}


class UsageError(Exception):
    pass


def collapse_escapes(text: str) -> str:
    return (text.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t")
            .replace('\\"', '"').replace("\0", "\\"))


def printf(fmt: str, value) -> str | None:
    """Apply one ``-format`` string to a value; ``None`` means print nothing."""
    out, undefined_skip = [], False

    def convert(match):
        nonlocal undefined_skip
        spec = match.group(1)
        if spec == "%":
            return "%"
        kind, flags = spec[-1], spec[:-1]
        if kind == "v":
            return ("%" + flags + "s") % classads.plain(value)
        if kind == "V":
            return ("%" + flags + "s") % classads.literal(value)
        if value is None or value is classads.cx.ERROR or isinstance(value, (dict, list)):
            undefined_skip = True
            return ""
        try:
            if kind in "dixc":
                number = int(value) if not isinstance(value, str) else int(value.strip())
                return ("%" + flags + ("d" if kind in "ic" else kind)) % number
            if kind in "fge":
                return ("%" + flags + kind) % float(value)
            return ("%" + flags + "s") % (value if isinstance(value, str) else classads.plain(value))
        except (TypeError, ValueError):
            undefined_skip = True
            return ""

    out.append(_SPEC.sub(convert, fmt))
    return None if undefined_skip else "".join(out)


def parse_args(argv):
    opts = {"ids": [], "owners": [], "constraint": None, "formats": [], "af": None,
            "af_opts": "", "long": False, "json": False, "attributes": None, "totals": False,
            "allusers": False, "limit": None}
    i = 0
    while i < len(argv):
        arg = argv[i]
        low = arg.lower()

        def value(name=arg):
            nonlocal i
            i += 1
            if i >= len(argv):
                raise UsageError(f"Error: Argument {name} requires another argument")
            return argv[i]

        if low in ("-constraint", "-const"):
            extra = value()
            opts["constraint"] = f"({opts['constraint']}) && ({extra})" if opts["constraint"] else extra
        elif low in ("-format", "-fmt"):
            fmt = value()
            opts["formats"].append((collapse_escapes(fmt), value()))
        elif low.startswith(("-af", "-autoformat")):
            opts["af"], opts["af_opts"] = [], arg.partition(":")[2]
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
                opts["af"].append(argv[i])
            if not opts["af"]:
                raise UsageError("Error: -af requires at least one attribute")
        elif low in ("-long", "-l"):
            opts["long"] = True
        elif low == "-json":
            opts["json"] = True
        elif low in ("-attributes", "-attrs", "-attr"):
            opts["attributes"] = [a.strip() for a in value().split(",") if a.strip()]
        elif low in ("-totals", "-tot"):
            opts["totals"] = True
        elif low in ("-allusers", "-all"):
            opts["allusers"] = True
        elif low in ("-match", "-limit"):
            opts["limit"] = int(value())
        elif low in ("-name", "-pool", "-file", "-since"):
            value()
        elif low in ("-nobatch", "-batch", "-global", "-wide", "-w", "-backwards", "-forwards",
                     "-run", "-hold", "-idle"):
            pass
        elif arg.startswith("-"):
            raise UsageError(f"Error: unrecognized option {arg}")
        else:
            job_id = parse_job_id(arg)
            if job_id:
                opts["ids"].append(job_id)
            else:
                opts["owners"].append(arg)
        i += 1
    return opts


def run(argv, history=False, state=None):
    """Run condor_q (or condor_history); returns ``(stdout, stderr, exit_code)``."""
    try:
        opts = parse_args(argv)
        with Queue(state) as queue:
            ads = queue.history() if history else queue.queue()
        ads = [public(ad) for ad in ads]
        owners = opts["owners"]
        if not history and not (opts["ids"] or owners or opts["allusers"]):
            owners = [owner()]
        chosen = select(ads, opts["ids"], owners, opts["constraint"])
    except (UsageError, ValueError) as exc:
        return "", f"{exc}\n", 1
    if opts["limit"] is not None:
        chosen = chosen[: opts["limit"]]
    return render(chosen, opts, history), "", 0


def _project(ad, names):
    if not names:
        return ad
    wanted = {n.lower() for n in names}
    return {k: v for k, v in ad.items() if k.lower() in wanted}


def render(ads, opts, history=False) -> str:
    if opts["formats"]:
        parts = []
        for ad in ads:
            for fmt, attr in opts["formats"]:
                text = printf(fmt, classads.evaluate(ad, attr))
                if text is not None:
                    parts.append(text)
        return "".join(parts)
    # With -long or -json, -af's attributes only choose what is printed (a projection).
    projection = opts["attributes"] or opts["af"]
    if opts["af"] is not None and not (opts["long"] or opts["json"]):
        return _autoformat(ads, opts["af"], opts["af_opts"])
    if opts["long"]:
        return "".join(
            "".join(f"{k} = {classads.literal(v)}\n"
                    for k, v in sorted(_project(ad, projection).items(),
                                       key=lambda item: item[0].lower()))
            + "\n" for ad in ads)
    if opts["json"]:
        if not ads:
            return ""
        return "[\n" + ",\n".join(_json_ad(_project(ad, projection)) for ad in ads) + "\n]\n"
    if opts["totals"]:
        return _totals(ads) + "\n"
    return _table(ads, history)


def _json_value(value) -> str:
    """A value as HTCondor's ClassAd JSON unparser writes it: literals as JSON, undefined
    as ``null``, anything else (an expression, ``error``) as ``"\\/Expr(...)\\/"``."""
    if isinstance(value, dict):
        return json.dumps(f"/Expr({value['expr']})/", ensure_ascii=False).replace("/", "\\/")
    if value is classads.cx.ERROR:
        return '"\\/Expr(error)\\/"'
    if isinstance(value, list):
        return "[" + ", ".join(_json_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _json_ad(ad) -> str:
    body = ",\n".join(f"  {json.dumps(k)}: {_json_value(v)}" for k, v in ad.items())
    return "{\n" + body + "\n}"


def _autoformat(ads, attrs, flags):
    sep = "\t" if "t" in flags else "," if "," in flags else "\n" if "n" in flags else " "
    lines = []
    if "h" in flags:
        lines.append(sep.join(attrs))
    for ad in ads:
        values = []
        for attr in attrs:
            if "r" in flags:
                raw = classads.lookup(ad, attr)
                text = classads.literal(raw)
            else:
                value = classads.evaluate(ad, attr)
                text = classads.literal(value) if "V" in flags else classads.plain(value)
            values.append(f"{attr} = {text}" if "l" in flags else text)
        if "j" in flags:
            values.insert(0, f"{ad['ClusterId']}.{ad['ProcId']}")
        lines.append(sep.join(values))
    if not lines:
        return ""
    return "\n".join(lines) + "\n"


def _totals(ads):
    counts = {name: 0 for name in _NAMES.values()}
    for ad in ads:
        name = _NAMES.get(ad.get("JobStatus"))
        if name:
            counts[name] += 1
    return (f"Total for query: {len(ads)} jobs; {counts['completed']} completed, "
            f"{counts['removed']} removed, {counts['idle']} idle, {counts['running']} running, "
            f"{counts['held']} held, {counts['suspended']} suspended")


def _table(ads, history):
    stamp = time.strftime("%m/%d/%y %H:%M:%S")
    if history:
        lines = [" ID     OWNER          SUBMITTED   RUN_TIME     ST COMPLETED   CMD"]
    else:
        lines = ["", "", f"-- Schedd: standin@localhost : <127.0.0.1:9618?... @ {stamp}",
                 " ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD"]
    for ad in ads:
        submitted = time.strftime("%m/%d %H:%M", time.localtime(ad.get("QDate", 0)))
        start = ad.get("JobCurrentStartDate")
        end = ad.get("CompletionDate") or time.time()
        seconds = int(end - start) if start else 0
        run_time = f"{seconds // 86400}+{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        letter = _STATUS_LETTER.get(ad.get("JobStatus"), "?")
        cmd = f"{ad.get('Cmd', '')} {ad.get('Arguments', '')}".strip()
        job_id = f"{ad['ClusterId']}.{ad['ProcId']}"
        if history:
            done = time.strftime("%m/%d %H:%M", time.localtime(ad.get("CompletionDate") or 0))
            lines.append(f"{job_id:>6}  {ad.get('Owner', ''):<13} {submitted} {run_time:>12} "
                         f"{letter}  {done} {cmd}")
        else:
            lines.append(f"{job_id:>8}   {ad.get('Owner', ''):<14} {submitted} {run_time:>12} "
                         f"{letter}  {ad.get('JobPrio', 0):<4} 0.0 {cmd.split('/')[-1]}")
    if not history:
        lines += ["", _totals(ads)]
    return "\n".join(lines) + "\n"
