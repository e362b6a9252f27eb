"""Module-level callbacks the jobs table tests register as custom actions (custom
actions must be importable by path, from any server process)."""


def archive(job):
    """Mark the job archived; the returned text is shown to the user."""
    props = dict(job.extended_properties or {})
    props["archived"] = True
    job.extended_properties = props
    job.save()
    return f"Archived {job.name}."


def explode(job):
    raise RuntimeError("the archive service is down")


def not_archived(job, job_status):
    return not (job.extended_properties or {}).get("archived")


def only_complete(job, job_status):
    return job_status == "Complete"


async def async_archive(job):
    from asgiref.sync import sync_to_async

    return await sync_to_async(archive)(job)


def broken_enabled(job, job_status):
    raise ValueError("broken")


class Archiver:
    """An app service whose bound methods are custom action callables: not importable
    by a path, so registered when this module loads (as an app would)."""

    def __init__(self, note):
        self.note = note

    def archive(self, job):
        props = dict(job.extended_properties or {})
        props["archived"] = self.note
        job.extended_properties = props
        job.save()
        return f"{self.note} {job.name}."

    def complete_only(self, job, job_status):
        return job_status == "Complete"


def _register():
    from tethys_compute.jobs_table import register_action_callable

    register_action_callable(archiver.archive, name="tests.archiver.archive")
    register_action_callable(archiver.complete_only, name="tests.archiver.complete_only")


archiver = Archiver("Filed")
_register()
