"""DAG input files, as DAGMan reads them.

Commands: ``JOB name file [DIR d] [NOOP] [DONE]``, ``PARENT ... CHILD ...``,
``VARS name k="v" ...``, ``RETRY name N [UNLESS-EXIT v]``, ``PRIORITY name p``,
``CATEGORY name c``, ``MAXJOBS c n``, ``SCRIPT PRE|POST name exe args``,
``PRE_SKIP name code``, ``ABORT-DAG-ON name v [RETURN r]``, ``CONFIG file``. Keywords are
case-insensitive; ``#`` starts a comment. Other DAGMan commands are accepted and ignored.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


class DagError(Exception):
    pass


@dataclass
class DagNode:
    name: str
    submit_file: str
    dir: str | None = None
    noop: bool = False
    done: bool = False
    parents: set = field(default_factory=set)
    children: set = field(default_factory=set)
    vars: dict = field(default_factory=dict)
    retry: int = 0
    retry_unless_exit: int | None = None
    priority: int = 0
    category: str | None = None
    pre: tuple | None = None
    post: tuple | None = None
    pre_skip: int | None = None
    abort_on: int | None = None
    abort_return: int | None = None


@dataclass
class Dag:
    nodes: dict
    maxjobs: dict
    config: str | None = None
    ignored: list = field(default_factory=list)


_VARS = re.compile(r'\s*([A-Za-z_+][A-Za-z0-9_.+]*)\s*=\s*"((?:[^"\\]|\\.)*)"')
_IGNORED = {"DOT", "NODE_STATUS_FILE", "JOBSTATE_LOG", "SET_JOB_ATTR", "ENV", "REJECT",
            "SAVE_POINT_FILE", "PROVISIONER", "SERVICE", "FINAL", "SPLICE", "SUBDAG",
            "INCLUDE", "CONNECT", "PIN_IN", "PIN_OUT", "SUBMIT-DESCRIPTION"}


def parse_dag(path) -> Dag:
    """Parse a DAG file.

    :raises DagError: on a syntax error, an unknown node, a repeated JOB name or a cycle.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DagError(f"Could not open file {path} for input ({exc.strerror})") from None
    dag = Dag(nodes={}, maxjobs={})
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            _command(dag, line)
        except (IndexError, ValueError):
            raise DagError(f"{path.name} (line {number}): syntax error in: {line}") from None
        except DagError as exc:
            raise DagError(f"{path.name} (line {number}): {exc}") from None
    _check_cycles(dag)
    return dag


def _node(dag, name):
    try:
        return dag.nodes[name]
    except KeyError:
        raise DagError(f"Unknown Job {name}") from None


def _command(dag, line):
    words = line.split()
    keyword = words[0].upper()
    if keyword in ("JOB", "DATA"):
        name, submit_file = words[1], words[2]
        if name in dag.nodes:
            raise DagError(f"node name {name} is used more than once")
        node = DagNode(name=name, submit_file=submit_file)
        rest = [w.upper() for w in words[3:]]
        i = 0
        while i < len(rest):
            if rest[i] == "DIR":
                node.dir = words[3 + i + 1]
                i += 1
            elif rest[i] == "NOOP":
                node.noop = True
            elif rest[i] == "DONE":
                node.done = True
            else:
                raise DagError(f"unexpected token {words[3 + i]} after JOB {name}")
            i += 1
        dag.nodes[name] = node
    elif keyword == "PARENT":
        upper = [w.upper() for w in words]
        split = upper.index("CHILD")
        parents, children = words[1:split], words[split + 1:]
        if not parents or not children:
            raise ValueError
        for p in parents:
            for c in children:
                _node(dag, p).children.add(c)
                _node(dag, c).parents.add(p)
    elif keyword == "VARS":
        node = _node(dag, words[1])
        rest = line.split(None, 2)[2] if len(line.split(None, 2)) > 2 else ""
        pos = 0
        while rest[pos:].strip():
            match = _VARS.match(rest, pos)
            if not match:
                raise ValueError
            node.vars[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2))
            pos = match.end()
    elif keyword == "RETRY":
        node = _node(dag, words[1])
        node.retry = int(words[2])
        if len(words) > 3:
            if words[3].upper() != "UNLESS-EXIT":
                raise ValueError
            node.retry_unless_exit = int(words[4])
    elif keyword == "PRIORITY":
        _node(dag, words[1]).priority = int(words[2])
    elif keyword == "CATEGORY":
        _node(dag, words[1]).category = words[2]
    elif keyword == "MAXJOBS":
        dag.maxjobs[words[1]] = int(words[2])
    elif keyword == "SCRIPT":
        rest = words[1:]
        if rest[0].upper() == "DEFER":
            rest = rest[3:]
        kind, name, command = rest[0].upper(), rest[1], rest[2:]
        if kind not in ("PRE", "POST") or not command:
            raise ValueError
        setattr(_node(dag, name), kind.lower(), tuple(shlex.split(" ".join(command))))
    elif keyword == "PRE_SKIP":
        _node(dag, words[1]).pre_skip = int(words[2])
    elif keyword == "ABORT-DAG-ON":
        node = _node(dag, words[1])
        node.abort_on = int(words[2])
        if len(words) > 3:
            if words[3].upper() != "RETURN":
                raise ValueError
            node.abort_return = int(words[4])
    elif keyword == "CONFIG":
        dag.config = words[1]
    elif keyword in _IGNORED:
        dag.ignored.append(line)
    else:
        raise DagError(f"Unknown DAG command: {words[0]}")


def _check_cycles(dag):
    state = {}

    def visit(name, trail):
        if state.get(name) == 1:
            raise DagError(f"a cycle exists in the dag: {' -> '.join([*trail, name])}")
        if state.get(name) == 2:
            return
        state[name] = 1
        for child in sorted(dag.nodes[name].children):
            visit(child, [*trail, name])
        state[name] = 2

    for name in dag.nodes:
        visit(name, [])
