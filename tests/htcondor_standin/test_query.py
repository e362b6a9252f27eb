"""condor_q and condor_history of the stand-in: formats, selection, queue vs history."""

import json
import time

import pytest

#: Runs until removed (every test removes its slow jobs), however long the test takes.
SLOW = "#!/bin/sh\nsleep 3600\n"
FAST = "#!/bin/sh\nexit ${1:-0}\n"


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for name, body in (("slow.sh", SLOW), ("fast.sh", FAST)):
        (work / name).write_text(body)
        (work / name).chmod(0o755)
    return work


def submit(standin, work, text):
    (work / "job.sub").write_text(text)
    result = standin.run("condor_submit", "job.sub", cwd=work)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.rsplit("cluster ", 1)[1].rstrip(".\n"))


def wait_running(standin, cluster, count=1, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = standin.run("condor_q", str(cluster), "-format", "%d", "JobStatus").stdout
        if out == "2" * count:
            return
        time.sleep(0.05)
    raise AssertionError(f"cluster {cluster} never ran: {out!r}")


def test_format_concatenates_without_separators_as_condorpy_expects(standin, work):
    slow = submit(standin, work, "executable = slow.sh\nqueue 3\n")
    wait_running(standin, slow, 3)
    out = standin.run("condor_q", str(slow), "-format", "%d", "JobStatus").stdout
    assert out == "222"
    records = standin.run("condor_q", str(slow), "-format", "%d;;;", "ClusterId",
                          "-format", "%d+++", "JobStatus").stdout
    assert records == f"{slow};;;2+++" * 3
    # %v prints undefined for a missing attribute; %d prints nothing.
    assert standin.run("condor_q", f"{slow}.1", "-format", "%v;", "Args",
                       "-format", "%d;", "Nope", "-format", "%s\\n", "Owner").stdout.startswith("undefined;")
    standin.run("condor_rm", str(slow))


def test_jobs_leave_the_queue_for_the_history_and_are_never_in_both(standin, work):
    fast = submit(standin, work, "executable = fast.sh\narguments = 3\nqueue\n")
    deadline = time.time() + 120
    seen = []
    while time.time() < deadline:
        # Leaving the queue is final: once the history has the job, the queue never does.
        h = standin.run("condor_history", str(fast), "-format", "%d", "JobStatus").stdout
        q = standin.run("condor_q", str(fast), "-format", "%d", "JobStatus").stdout
        seen.append((h, q))
        assert not (h and q), seen
        if h:
            break
        time.sleep(0.02)
    assert seen[-1][0], seen  # it reached the history
    assert standin.run("condor_q", str(fast), "-af", "ClusterId").stdout == ""
    assert standin.run("condor_history", str(fast), "-af", "JobStatus", "ExitCode").stdout == "4 3\n"


def test_autoformat_options_long_json_and_attributes(standin, work):
    cluster = submit(standin, work, 'executable = slow.sh\n+Note = "a b"\nqueue 2\n')
    wait_running(standin, cluster, 2)
    assert standin.run("condor_q", str(cluster), "-af", "ProcId", "Note").stdout == "0 a b\n1 a b\n"
    assert standin.run("condor_q", str(cluster), "-af:jt", "JobStatus", "Nope").stdout == (
        f"{cluster}.0\t2\tundefined\n{cluster}.1\t2\tundefined\n")
    assert standin.run("condor_q", f"{cluster}.1", "-af:V,", "Note", "ProcId").stdout == '"a b",1\n'
    headed = standin.run("condor_q", f"{cluster}.0", "-af:h", "ProcId", "JobStatus").stdout
    assert headed == "ProcId JobStatus\n0 2\n"
    long = standin.run("condor_q", f"{cluster}.0", "-long", "-attributes", "Note,ProcId").stdout
    assert long == 'Note = "a b"\nProcId = 0\n\n'
    full = standin.run("condor_q", f"{cluster}.0", "-l").stdout
    assert f"ClusterId = {cluster}\n" in full and "JobStatus = 2\n" in full
    ads = json.loads(standin.run("condor_q", str(cluster), "-json").stdout)
    assert [ad["ProcId"] for ad in ads] == [0, 1]
    totals = standin.run("condor_q", "-totals").stdout
    assert totals.strip() == ("Total for query: 2 jobs; 0 completed, 0 removed, 0 idle, "
                              "2 running, 0 held, 0 suspended")
    standin.run("condor_rm", str(cluster))


def test_json_is_an_array_of_ads_as_htcondor_prints_it(standin, work):
    # condor_q/condor_history -json (HTCondor manual, condor_q "-json" and "-attributes"):
    # a JSON array of ads; -attributes (or -af's attributes) project it; expressions are
    # "\/Expr(...)\/" strings, undefined is null; no match prints nothing.
    import classad2

    cluster = submit(standin, work, 'executable = slow.sh\n+Note = "tab\\there\\n\\"q\\""\n'
                                    '+Twice = ProcId * 2\n+Nothing = undefined\nqueue 2\n')
    wait_running(standin, cluster, 2)
    raw = standin.run("condor_q", str(cluster), "-json").stdout
    assert raw.startswith("[\n{\n") and raw.endswith("}\n]\n")
    assert '"Twice": "\\/Expr(ProcId * 2)\\/"' in raw and '"Nothing": null' in raw
    ads = json.loads(raw)
    assert [(ad["ClusterId"], ad["ProcId"], ad["Note"]) for ad in ads] == [
        (cluster, 0, 'tab\there\n"q"'), (cluster, 1, 'tab\there\n"q"')]
    # HTCondor's own JSON ClassAd parser reads each ad and evaluates the expressions (it
    # knows them by the escaped "\/Expr(" that HTCondor writes, so "/" is escaped again).
    parsed = [classad2.parseOne(json.dumps(ad, ensure_ascii=False).replace("/", "\\/"),
                                classad2.ParserType.JSON) for ad in ads]
    assert [ad.eval("Twice") for ad in parsed] == [0, 2]
    projected = json.loads(standin.run("condor_q", str(cluster), "-json",
                                       "-attributes", "procid,Note,Missing").stdout)
    assert projected == [{"ProcId": 0, "Note": 'tab\there\n"q"'},
                         {"ProcId": 1, "Note": 'tab\there\n"q"'}]
    by_af = json.loads(standin.run("condor_q", f"{cluster}.1", "-json", "-af", "JobStatus").stdout)
    assert by_af == [{"JobStatus": 2}]
    assert standin.run("condor_q", "999", "-json").stdout == ""
    assert standin.run("condor_history", str(cluster), "-json").stdout == ""
    standin.run("condor_rm", str(cluster))
    assert standin.wait_until_empty()
    history = json.loads(standin.run("condor_history", str(cluster), "-json",
                                     "-attributes", "ProcId,JobStatus").stdout)
    assert sorted(ad["ProcId"] for ad in history) == [0, 1]
    assert {ad["JobStatus"] for ad in history} == {3}


def test_constraints_ids_and_owner_selection(standin, work):
    a = submit(standin, work, "executable = slow.sh\n+Kind = \"a\"\nqueue 2\n")
    b = submit(standin, work, "executable = slow.sh\n+Kind = \"b\"\nqueue\n")
    wait_running(standin, a, 2)

    def clusters(*args):
        out = standin.run("condor_q", *args, "-af", "ClusterId", "ProcId").stdout
        return out.split("\n")[:-1]

    assert clusters(f"member(ClusterId, {{{a}, 99}})" and "-constraint",
                    f"member(ClusterId, {{{a}, 99}})") == [f"{a} 0", f"{a} 1"]
    assert clusters("-constraint", 'Kind == "B"') == [f"{b} 0"]  # == ignores case
    assert clusters("-constraint", 'Kind =?= "B"') == []  # =?= does not
    assert clusters(f"{a}.1", str(b)) == [f"{a} 1", f"{b} 0"]
    assert clusters(str(a), "-constraint", "ProcId == 1") == [f"{a} 1"]
    assert clusters("-constraint", "DAGManJobId == 5 || ProcId == 1") == [f"{a} 1"]
    assert clusters("nobody-owns-these") == []
    bad = standin.run("condor_q", "-constraint", "ClusterId ==")
    assert bad.returncode == 1 and "Invalid constraint" in bad.stderr
    standin.run("condor_rm", str(a), str(b))


def test_history_lists_newest_first_and_limit(standin, work):
    first = submit(standin, work, "executable = fast.sh\nqueue\n")
    assert standin.wait_until_empty()
    second = submit(standin, work, "executable = fast.sh\nqueue\n")
    assert standin.wait_until_empty()
    out = standin.run("condor_history", "-af", "ClusterId").stdout.split()
    assert out == [str(second), str(first)]
    assert standin.run("condor_history", "-limit", "1", "-af", "ClusterId").stdout == f"{second}\n"
    table = standin.run("condor_history").stdout
    assert table.splitlines()[0].split()[:3] == ["ID", "OWNER", "SUBMITTED"]
