"""Log trees, lazy reads and truncation for the logs dialog."""

import pytest

from tethys_compute.jobs_table import logs


def test_tree_of_nested_logs_keeps_order_and_defers_callables():
    tree = logs.tree({"out": "x", "nodes": {"a": {"log": lambda: "y"}}, 3: "number key"})
    assert tree[0] == {"name": "out", "path": ["out"], "content": "x", "size": 1}
    assert tree[1]["children"][0]["children"][0] == {"name": "log", "path": ["nodes", "a", "log"],
                                                       "lazy": True}
    assert tree[2]["path"] == ["3"]
    assert logs.tree(None) == [] and logs.tree("text") == []


def test_resolve_calls_lazy_and_async_logs():
    async def later():
        return b"async bytes"

    data = {"a": {"b": lambda: "lazy"}, "c": later, 7: "seven"}
    assert logs.resolve(data, ["a", "b"]) == "lazy"
    assert logs.resolve(data, ["c"]) == "async bytes"
    assert logs.resolve(data, ["7"]) == "seven"
    for bad in (["a"], ["a", "b", "c"], ["zzz"], [], "a", [1]):
        with pytest.raises(logs.NoSuchLog):
            logs.resolve(data, bad)


def test_tail_cuts_on_a_character_boundary():
    text = "é" * 10  # 20 bytes
    shown, truncated, size = logs.tail(text, 7)
    assert truncated and size == 20 and shown == "é" * 3
    assert logs.tail("short", 100) == ("short", False, 5)
