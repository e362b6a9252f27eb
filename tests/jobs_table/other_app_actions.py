"""A second "app" whose custom action has the same label and function name as the one
in ``actions_for_tests`` (the registry must keep both)."""


def archive(job):
    return f"Other app archived {job.name}."
