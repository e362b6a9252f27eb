"""Memory escalation: max(2 x request, 1.2 x measured), capped by the setting and the
scheduler's limit (tethys_compute/escalation.py)."""

import pytest

from tethys_compute.escalation import next_memory_mb


def test_doubles_the_request_or_grows_from_the_measured_peak():
    assert next_memory_mb(2048, 2311) == 4096
    assert next_memory_mb(64, 201) == 242  # 1.2 x 201 = 241.2, rounded up
    assert next_memory_mb(100, None) == 200


def test_capped_by_the_setting_and_the_scheduler(settings):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "MAX_REQUEST_MEMORY": 3000}
    assert next_memory_mb(2048, 2311) == 3000
    assert next_memory_mb(2048, 2311, limits=(2500,)) == 2500
    assert next_memory_mb(3000, 3500) is None  # no room left: nothing to raise
    assert next_memory_mb(None, 10) is None
    with pytest.raises(ValueError, match="negative"):
        next_memory_mb(-1, 10)
