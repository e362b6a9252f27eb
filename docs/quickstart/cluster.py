"""A Dask cluster on this machine, for trying the app: a LocalCluster (the scheduler in
this process, one worker process, both on 127.0.0.1) whose scheduler runs tethys_compute's
status plugin, reporting task transitions to the site.

    python cluster.py [PORT [SITE_URL]]     # defaults: 8786, http://127.0.0.1:8000

Run it from the project's directory (next to manage.py): the scheduler and the worker
then import the app's task functions. Ctrl-C (or SIGTERM) stops it.
"""

import signal
import sys
import threading

from distributed import LocalCluster

from tethys_compute.engines.dask.plugin import TethysJobStatusPlugin

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8786
    site = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as on Ctrl-C
    try:
        with LocalCluster(host="127.0.0.1", scheduler_port=port, n_workers=1,
                          threads_per_worker=2, dashboard_address=None) as cluster:
            cluster.scheduler.add_plugin(
                TethysJobStatusPlugin(site, scheduler=cluster.scheduler))
            print(f"Dask scheduler at {cluster.scheduler_address}, reporting to {site}",
                  flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("Dask cluster stopped.")
