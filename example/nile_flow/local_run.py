"""The local run behind the app's Basic job: ``python -m example.nile_flow.local_run DIR``.

It reports to the job's report URL (environment ``REPORT_URL``, token in
``REPORT_TOKEN``), as any compute node would: Running, progress while it scans the split
points, then Complete after writing ``DIR/result.json``; Error if anything fails.
"""

import json
import os
import sys
import urllib.request
from pathlib import Path


def report(status, progress=None, message=None):
    body = {"status": status}
    if progress is not None:
        body["progress"] = progress
    if message:
        body["progress_message"] = message
    request = urllib.request.Request(
        os.environ["REPORT_URL"], json.dumps(body).encode(),
        {"Authorization": "Bearer " + os.environ["REPORT_TOKEN"],
         "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def main(directory):
    from example.nile_flow import analysis

    report("Running", 0, "loading the Nile series")
    try:
        years, volumes = analysis.load_nile()
        report("Running", 30, "scanning split points")
        result = analysis.change_point(years, volumes)
        report("Running", 90, "writing result.json")
        (Path(directory) / "result.json").write_text(json.dumps(result))
    except Exception as exc:  # reported, then re-raised for the log
        report("Error", message=f"{type(exc).__name__}: {exc}")
        raise
    print(json.dumps(result))
    report("Complete", 100, "done")


if __name__ == "__main__":
    main(sys.argv[1])
