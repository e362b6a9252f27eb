"""The DAG input file of a workflow, written from condorpy nodes.

condorpy 0.7 drops ``RETRY ... UNLESS-EXIT`` and ``ABORT-DAG-ON`` and puts ``DIR``,
``NOOP`` and ``DONE`` on a line of their own, which DAGMan rejects; this writer emits
every node option in DAGMan's syntax (HTCondor manual, "DAGMan Workflows").

``htcondor2.dags`` (htcondor 25.14) was considered and not adopted: its writer puts a
category limit on a ``CATEGORY <name> <limit>`` line instead of ``MAXJOBS <name>
<limit>``, which DAGMan reads as a node named after the category; it makes each
relative submit-file path absolute against the web process's working directory (wrong
on a remote submit host, and our code never depends on the working directory); it
writes only to a local directory (our DAG files also go over SFTP); and it names nodes
``<layer>:<index>`` unless given a formatter. This writer keeps condorpy's node model
and Tethys's node names.
"""

from __future__ import annotations


def _quote_var(value) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def dag_text(workflow) -> str:
    """DAG file content for a condorpy ``Workflow`` (nodes in name order)."""
    nodes = sorted(workflow._node_set, key=lambda n: n.job.name)
    lines = []
    if workflow.config:
        lines.append(f"CONFIG {workflow.config}")
    for node in nodes:
        line = f"JOB {node.job.name} {node.job.job_file}"
        if node.dir:
            line += f" DIR {node.dir}"
        if node.noop:
            line += " NOOP"
        if node.done:
            line += " DONE"
        lines.append(line)
    for node in nodes:
        name = node.job.name
        if node.vars:
            pairs = " ".join(f"{key}={_quote_var(value)}" for key, value in node.vars.items())
            lines.append(f"VARS {name} {pairs}")
        if node.pre_script:
            args = node.pre_script_args or ""
            lines.append(f"SCRIPT PRE {name} {node.pre_script} {args}".rstrip())
        if node.post_script:
            args = node.post_script_args or ""
            lines.append(f"SCRIPT POST {name} {node.post_script} {args}".rstrip())
        if node.pre_skip is not None:
            lines.append(f"PRE_SKIP {name} {node.pre_skip}")
        if node.retry:
            retry = f"RETRY {name} {node.retry}"
            if node.retry_unless_exit_value is not None:
                retry += f" UNLESS-EXIT {node.retry_unless_exit_value}"
            lines.append(retry)
        if node.abort_dag_on is not None:
            abort = f"ABORT-DAG-ON {name} {node.abort_dag_on}"
            if node.abort_dag_on_return_value is not None:
                abort += f" RETURN {node.abort_dag_on_return_value}"
            lines.append(abort)
        if node.category:
            lines.append(f"CATEGORY {name} {node.category}")
        if node.priority is not None:
            lines.append(f"PRIORITY {name} {node.priority}")
    for node in nodes:
        if node.child_nodes:
            children = " ".join(sorted(child.job.name for child in node.child_nodes))
            lines.append(f"PARENT {node.job.name} CHILD {children}")
    for category, limit in sorted((workflow.max_jobs or {}).items()):
        lines.append(f"MAXJOBS {category} {int(limit)}")
    return "\n".join(lines) + "\n"
