"""System check E008: HTCondor settings."""

from tethys_compute.checks import check_settings


def test_condor_settings_are_checked(settings, tmp_path):
    base = dict(settings.TETHYS_COMPUTE)

    def messages(check_id="tethys_compute.E008", **values):
        settings.TETHYS_COMPUTE = {**base, **values}
        return [m.msg for m in check_settings() if m.id == check_id]

    assert messages() == []
    assert messages(CONDOR_LOCAL_TRANSPORT="ssh") == [
        "TETHYS_COMPUTE[\"CONDOR_LOCAL_TRANSPORT\"] must be one of 'cli', 'htcondor2', not 'ssh'."]
    assert "CONDOR_SSH_HOST_KEY_POLICY" in messages(CONDOR_SSH_HOST_KEY_POLICY="yes")[0]
    missing = str(tmp_path / "known_hosts")
    assert "not a file" in messages(CONDOR_SSH_KNOWN_HOSTS=missing)[0]
    assert messages(CONDOR_SSH_KNOWN_HOSTS=missing, CONDOR_SSH_HOST_KEY_POLICY="auto-add") == []
    assert any("CONDOR_SSH_TIMEOUT" in m for m in messages("tethys_compute.E004", CONDOR_SSH_TIMEOUT=0))
