"""System check E008: HTCondor settings."""

from tethys_compute.checks import check_settings


BASE = {}


def ids(settings, **values):
    BASE.setdefault("config", dict(settings.TETHYS_COMPUTE))
    settings.TETHYS_COMPUTE = {**BASE["config"], **values}
    return [(m.id, m.msg) for m in check_settings() if m.id == "tethys_compute.E008"]


def test_condor_settings_are_checked(settings, tmp_path):
    assert ids(settings) == []
    assert ids(settings, CONDOR_LOCAL_TRANSPORT="ssh") == [
        ("tethys_compute.E008",
         "TETHYS_COMPUTE[\"CONDOR_LOCAL_TRANSPORT\"] must be one of 'cli', 'htcondor2', not 'ssh'.")]
    assert "CONDOR_SSH_HOST_KEY_POLICY" in ids(settings, CONDOR_SSH_HOST_KEY_POLICY="yes")[0][1]
    missing = str(tmp_path / "known_hosts")
    assert "not a file" in ids(settings, CONDOR_SSH_KNOWN_HOSTS=missing)[0][1]
    assert ids(settings, CONDOR_SSH_KNOWN_HOSTS=missing, CONDOR_SSH_HOST_KEY_POLICY="auto-add") == []
    settings.TETHYS_COMPUTE = {**BASE.pop("config"), "CONDOR_SSH_TIMEOUT": 0}
    assert any(m.id == "tethys_compute.E004" and "CONDOR_SSH_TIMEOUT" in m.msg for m in check_settings())
