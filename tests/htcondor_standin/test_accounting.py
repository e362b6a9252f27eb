"""condor_submit of the stand-in: ``accounting_group`` and ``accounting_group_user`` become
``AcctGroup``, ``AcctGroupUser`` and ``AccountingGroup`` in the job ad, as condor_submit
writes them (HTCondor manual, condor_submit: accounting_group, accounting_group_user;
job ClassAd attributes AcctGroup, AcctGroupUser, AccountingGroup); names holding white
space are refused (the negotiator ignores such submitters)."""

import json

import pytest


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    script = work / "run.sh"
    script.write_text("#!/bin/sh\necho out\n")
    script.chmod(0o755)
    return work


def _submit(standin, work, lines):
    (work / "job.sub").write_text("executable = run.sh\n" + "".join(f"{line}\n" for line in lines)
                                  + "hold = true\nqueue\n")
    return standin.run("condor_submit", "job.sub", cwd=work)


def _ad(standin, *args):
    result = standin.run("condor_q", *args, "-json")
    assert result.returncode == 0, result.stderr
    ads = json.loads(result.stdout) if result.stdout.strip() else []
    return ads


def test_group_and_user_make_the_accounting_attributes(standin, work):
    result = _submit(standin, work, ["accounting_group = group_physics",
                                     "accounting_group_user = alice", '+TethysJobId = 7'])
    assert result.returncode == 0, result.stderr
    _submit(standin, work, ["accounting_group_user = bob"])
    ads = _ad(standin, "-constraint", 'AcctGroupUser == "alice"')
    assert len(ads) == 1
    ad = ads[0]
    assert ad["AcctGroup"] == "group_physics" and ad["AcctGroupUser"] == "alice"
    assert ad["AccountingGroup"] == "group_physics.alice" and ad["TethysJobId"] == 7
    (bob,) = _ad(standin, "-constraint", 'AcctGroupUser == "bob"')
    assert bob["AccountingGroup"] == "bob" and "AcctGroup" not in bob


def test_group_without_user_accounts_to_the_owner(standin, work):
    _submit(standin, work, ["accounting_group = group_physics"])
    (ad,) = _ad(standin)
    assert ad["AcctGroupUser"] == ad["Owner"]
    assert ad["AccountingGroup"] == f"group_physics.{ad['Owner']}"


def test_no_accounting_commands_no_accounting_attributes(standin, work):
    _submit(standin, work, [])
    (ad,) = _ad(standin)
    assert not {"AcctGroup", "AcctGroupUser", "AccountingGroup"} & set(ad)


@pytest.mark.parametrize("line, name", [
    ("accounting_group_user = alice smith", "accounting_group_user"),
    ("accounting_group = group physics", "accounting_group"),
])
def test_names_with_white_space_are_refused(standin, work, line, name):
    result = _submit(standin, work, [line])
    assert result.returncode != 0
    assert f"Invalid {name}" in result.stderr
    assert _ad(standin) == []
