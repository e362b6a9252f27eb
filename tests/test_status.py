import pytest

from tethys_compute import status as st
from tethys_compute.models import BasicJob, CondorJob, DaskJob, TethysJob


def test_codes_and_display_names_are_tethys():
    assert TethysJob.STATUSES == (
        ("PEN", "Pending"), ("SUB", "Submitted"), ("RUN", "Running"), ("VAR", "Various"),
        ("PAS", "Paused"), ("COM", "Complete"), ("ERR", "Error"), ("ABT", "Aborted"),
        ("VCP", "Various-Complete"), ("RES", "Results-Ready"), ("OTH", "Other"),
    )
    assert TethysJob.VALID_STATUSES == ["PEN", "SUB", "RUN", "VAR", "PAS", "COM", "ERR",
                                        "ABT", "VCP", "RES", "OTH"]
    assert TethysJob.REVERSE_STATUSES["Various-Complete"] == "VCP"
    assert TethysJob.OTHER_STATUS_KEY == "__other_status__"


def test_categories_are_tethys_slices():
    assert TethysJob.PRE_RUNNING_STATUSES == ["Pending", "Submitted"]
    assert TethysJob.RUNNING_STATUSES == ["Running", "Various"]
    assert TethysJob.ACTIVE_STATUSES == ["Submitted", "Running", "Various", "Paused"]
    assert TethysJob.NON_TERMINAL_STATUSES == ["Pending", "Submitted", "Running", "Various", "Paused"]
    assert TethysJob.TERMINAL_STATUSES == ["Complete", "Error", "Aborted", "Various-Complete",
                                           "Results-Ready"]
    assert TethysJob.NON_TERMINAL_STATUS_CODES == ["PEN", "SUB", "RUN", "VAR", "PAS"]
    assert TethysJob.TERMINAL_STATUS_CODES == ["COM", "ERR", "ABT", "VCP", "RES"]
    assert TethysJob.RESULTS_STATUS_CODES == ["COM", "VCP", "RES"]


def test_custom_status_registers_on_one_class_and_its_subclasses_only():
    class Meshing(BasicJob):
        class Meta:
            proxy = True
            app_label = "testapp"

    class Refining(Meshing):
        class Meta:
            proxy = True
            app_label = "testapp"

    Meshing.add_custom_running_status("Meshing")
    Meshing.add_custom_terminal_status("Mesh Failed")
    assert "Meshing" in Meshing.RUNNING_STATUSES
    assert "Meshing" in Meshing.ACTIVE_STATUSES
    assert "Meshing" in Meshing.NON_TERMINAL_STATUSES
    assert "Mesh Failed" in Meshing.TERMINAL_STATUSES
    # inherited by a subclass, even one created before or after
    assert "Meshing" in Refining.RUNNING_STATUSES
    # never leaks to the parent or to siblings
    for other in (TethysJob, BasicJob, DaskJob, CondorJob):
        assert "Meshing" not in other.RUNNING_STATUSES
        assert "Mesh Failed" not in other.TERMINAL_STATUSES
    # registering twice keeps one entry
    Meshing.add_custom_running_status("Meshing")
    assert Meshing.RUNNING_STATUSES.count("Meshing") == 1


def test_custom_pre_running_and_active_categories():
    class Queued(BasicJob):
        class Meta:
            proxy = True
            app_label = "testapp"

    Queued.add_custom_pre_running_status("Queued Remotely")
    Queued.add_custom_active_status("Staging")
    assert Queued.PRE_RUNNING_STATUSES[-1] == "Queued Remotely"
    assert "Queued Remotely" in Queued.NON_TERMINAL_STATUSES
    assert "Staging" in Queued.ACTIVE_STATUSES and "Staging" not in Queued.RUNNING_STATUSES


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_custom_status_must_be_text(bad):
    with pytest.raises(ValueError):
        BasicJob.add_custom_running_status(bad)


def test_builtin_status_cannot_be_registered_as_custom():
    with pytest.raises(ValueError, match="built-in"):
        BasicJob.add_custom_terminal_status("Running")


def test_category_lists_are_copies():
    TethysJob.TERMINAL_STATUSES.append("Oops")
    assert "Oops" not in TethysJob.TERMINAL_STATUSES


@pytest.mark.parametrize(
    "given,expected",
    [("COM", ("COM", None)), ("Complete", ("COM", None)), ("Results-Ready", ("RES", None)),
     ("Checking inputs", ("OTH", "Checking inputs"))],
)
def test_to_code(given, expected):
    assert st.to_code(given) == expected


@pytest.mark.parametrize("bad", ["", None, 5, " "])
def test_to_code_refuses_non_text(bad):
    with pytest.raises(ValueError, match="non-empty string"):
        st.to_code(bad)
