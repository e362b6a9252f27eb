"""Signals sent at the points of a job's life.

* ``job_status_changed(sender, job, old, new, reason)``: after every status change is
  written; ``old`` and ``new`` are status codes.
* ``job_submitted(sender, job)``: after ``execute()`` handed the job to its engine.
* ``job_finished(sender, job, status)``: once the job has ended and its results (if any)
  are processed; ``status`` is the final code.
* ``job_deleted(sender, job)``: after a job's row was deleted (and its own directory
  removed).

``sender`` is the job's class.
"""

from django.dispatch import Signal

job_status_changed: Signal = Signal()
job_submitted: Signal = Signal()
job_finished: Signal = Signal()
job_deleted: Signal = Signal()
