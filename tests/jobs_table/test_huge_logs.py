"""A huge log costs the web process no memory: its tail is read by seeking and its
download is streamed, for a local log and a log on a remote submit host (SFTP).

The logs are sparse files (1 GB locally), so they take no disk space; the web process's
peak memory growth is measured with ``tracemalloc`` around each request.
"""

import json
import os
import tracemalloc

import pytest
from django.urls import reverse

from tests.htcondor_standin.scenarios import condor_job, remote, remote_scheduler
from tethys_compute.engines.condor import ssh
from tethys_compute.gizmos import JobsTable

pytestmark = pytest.mark.django_db

GB = 1024**3
MiB = 1024**2
END = b"the last line of a huge log\n"
#: The end of each huge log is real text (the rest is a hole of NUL bytes).
TEXT_LINE = b"a log line in the text at the end of the file\n"
TEXT = TEXT_LINE * (512 * 1024 // len(TEXT_LINE))
#: Allowed peak growth of the web process for one request, whatever the log's size.
BUDGET = 4 * MiB


def _params(job, name="output"):
    table = JobsTable(jobs=[job], column_fields=["id", "name"]).table_config().dumps()
    return {"config": table, "job_id": job.pk, "path": json.dumps([name])}


def _peak(work):
    """(result, peak bytes allocated by ``work()`` above what was allocated before)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = work()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def _view_and_download(client, job, size, settings, download=("output", None)):
    settings.TETHYS_COMPUTE = {**settings.TETHYS_COMPUTE, "JOBS_TABLE_LOG_MAX_BYTES": 256 * 1024}
    params = _params(job)
    shown, peak = _peak(lambda: client.get(reverse("jobs_table_log_content"), params))
    assert shown.status_code == 200
    body = shown.json()
    assert body["truncated"] is True and body["size"] == size
    assert body["content"].endswith(END.decode()) and len(body["content"]) <= 256 * 1024
    print(f"view of a {size / MiB:.0f} MiB log: peak +{peak / MiB:.2f} MiB")
    assert peak < BUDGET, f"viewing the tail grew the process by {peak / MiB:.1f} MiB"

    name, download_size = download
    size = download_size or size
    params = _params(job, name)

    def download():
        response = client.get(reverse("jobs_table_log_download"), params)
        assert response.status_code == 200 and response.streaming
        total, last = 0, b""
        for chunk in response.streaming_content:
            total += len(chunk)
            last = (last + chunk)[-len(END):]
        response.close()
        return response, total, last

    (response, total, last), peak = _peak(download)
    assert total == size and last == END
    assert int(response["Content-Length"]) == size
    assert response["Content-Disposition"].startswith("attachment;")
    print(f"download of a {size / MiB:.0f} MiB log: peak +{peak / MiB:.2f} MiB")
    assert peak < BUDGET, f"downloading grew the process by {peak / MiB:.1f} MiB"


def _sparse(path, size):
    with open(path, "wb") as handle:
        handle.truncate(size - len(TEXT) - len(END))
        handle.seek(size - len(TEXT) - len(END))
        handle.write(TEXT + END)


def test_a_1gb_local_log_is_viewed_and_downloaded_in_bounded_memory(user, client, settings):
    job = condor_job(user, "huge", attributes={"output": "huge.out"})
    os.makedirs(job.initial_dir, exist_ok=True)
    _sparse(os.path.join(job.initial_dir, "huge.out"), GB)
    job._write_status("RUN")
    client.force_login(user)
    _view_and_download(client, job, GB, settings)


def test_a_huge_remote_log_is_viewed_and_downloaded_in_bounded_memory(user, client, settings,
                                                                       ssh_server):
    remote(settings, ssh_server)
    ssh.close_all()
    job = condor_job(user, "huge remote", scheduler=remote_scheduler(ssh_server),
                     attributes={"output": "huge.out", "error": "download.out"})
    job.remote_id = "e" * 32
    job.save()
    folder = f"{job.remote_id}/{job.condorpy_job.initial_dir}"
    # The tail of 1 GB is read by seeking; the download streams 16 MiB (four times the
    # budget: SFTP through paramiko under tracemalloc is slow).
    small = 16 * MiB
    line, text = END.decode().strip(), TEXT_LINE.decode().strip()
    count = len(TEXT) // len(TEXT_LINE)
    for name, size in (("huge.out", GB), ("download.out", small)):
        ssh_server.run_as_user(
            "sh", "-c", f"mkdir -p {folder} && truncate -s {size - len(TEXT) - len(END)} "
                        f"{folder}/{name} && yes '{text}' | head -n {count} >> {folder}/{name}"
                        f" && printf '{line}\\n' >> {folder}/{name}")
    job._write_status("RUN")  # running: read on the submit host
    client.force_login(user)
    try:
        _view_and_download(client, job, GB, settings, download=("error", small))
    finally:
        ssh.close_all()
        ssh_server.run_as_user("rm", "-rf", job.remote_id, check=False)
