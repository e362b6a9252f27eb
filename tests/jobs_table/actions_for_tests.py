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
