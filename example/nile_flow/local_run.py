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


def say(line):
    """A line of the run's log (its stdout: the job's logs show it)."""
    print(line, flush=True)


def main(directory):
    from example.nile_flow import analysis

    say("loading the Nile series (statsmodels.datasets.nile)")
    report("Running", 0, "loading the Nile series")
    try:
        years, volumes = analysis.load_nile()
        say(f"{volumes.size} years, {int(years[0])}-{int(years[-1])}; "
            f"scanning {volumes.size - 3} split points")
        report("Running", 30, "scanning split points")
        result = analysis.change_point(years, volumes)
        say(f"change point: {result['year']} (mean {result['mean_before']:,.0f} before, "
            f"{result['mean_after']:,.0f} after; the split explains "
            f"{100 * result['explained_variance']:.0f}% of the variance)")
        report("Running", 90, "writing result.json")
        (Path(directory) / "result.json").write_text(json.dumps(result))
        say(f"wrote {Path(directory) / 'result.json'}")
    except Exception as exc:  # reported, then re-raised for the log
        report("Error", message=f"{type(exc).__name__}: {exc}")
        raise
    report("Complete", 100, "done")


if __name__ == "__main__":
    main(sys.argv[1])
