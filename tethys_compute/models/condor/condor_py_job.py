import json
import os
import re

from django.db import models

from ..loading import plain_init
from .submit_values import submit_attributes

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def condorpy_name(name) -> str:
    """The name condorpy files use for a job or node (Tethys replaces spaces with ``_``;
    any other character that does not belong in a file name is replaced too)."""
    return _UNSAFE_NAME.sub("_", str(name or "job")) or "job"


@plain_init
class CondorPyJob(models.Model):
    """The submit description of an HTCondor job (table ``tethys_compute_condorpyjob``).

    ``attributes`` are submit-description commands (``{"executable": "run.sh",
    "arguments": "1 2"}``), usually started from a condorpy template
    (``condorpy_template_name``: ``base``, ``vanilla_base``, ``vanilla_transfer_files``,
    ``vanilla_nfs``); ``num_jobs`` is the ``queue`` count; ``remote_input_files`` are local
    paths (relative to the job's directory, or absolute) copied into the job's directory
    on a remote submit host before submitting.
    """

    condorpyjob_id = models.AutoField(primary_key=True)
    _attributes = models.JSONField(default=dict, null=True, blank=True)
    _num_jobs = models.IntegerField(default=1)
    _remote_input_files = models.JSONField(default=list, null=True, blank=True)

    def __str__(self):
        return getattr(self, "name", "") or f"CondorPyJob {self.pk}"

    def __init__(self, *args, attributes=None, condorpy_template_name=None, **kwargs):
        if (attributes is not None or condorpy_template_name is not None) and args:
            raise ValueError(
                "Pass job fields as keyword arguments when giving attributes or "
                "condorpy_template_name."
            )
        if attributes is not None and not isinstance(attributes, dict):
            raise ValueError(f"attributes must be a dict, not {type(attributes).__name__}.")
        extra = kwargs.pop("_attributes", None)
        super().__init__(*args, **kwargs)
        if attributes is None and condorpy_template_name is None and extra is None:
            return
        merged = {}
        if condorpy_template_name:
            merged.update(self.get_condorpy_template(condorpy_template_name))
        merged.update(attributes or {})
        merged.update(extra or {})
        self._attributes = merged

    @classmethod
    def get_condorpy_template(cls, template_name):
        """Return a copy of the attributes of a condorpy template (``base``,
        ``vanilla_base``, ``vanilla_transfer_files``, ``vanilla_nfs``); ``None`` or an
        unknown name gives ``base`` (as Tethys).

        :raises ImportError: if condorpy is not installed (``pip install tethys-compute[condor]``).
        """
        from ...engines.condor.templates import get_template

        return get_template(template_name)

    # --- the condorpy object ------------------------------------------------------------------
    def _condorpy_source(self):
        name = condorpy_name(self.name)
        attributes = submit_attributes(name, self._attributes)
        return (name, json.dumps(attributes, sort_keys=True, default=str),
                self._num_jobs, tuple(self._remote_input_files or ()), self.workspace)

    def normalise_attributes(self):
        """Store the attributes as condorpy's normalised strings, with ``job_name`` set to
        the job's name (called on save, as Tethys pushes them through condorpy then).
        See :mod:`tethys_compute.models.condor.submit_values`."""
        self.update_database_fields()
        self._attributes = submit_attributes(condorpy_name(self.name), self._attributes)

    @property
    def condorpy_job(self):
        """The condorpy ``Job`` built from this description. It is kept while the fields
        do not change; changes made on it are copied back into the fields on save, as
        in Tethys."""
        self.update_database_fields()
        source = self._condorpy_source()
        cached = self.__dict__.get("_condorpy_job")
        if cached is None or cached[0] != source:
            from ...engines.condor.condorpy_objects import TransportJob

            job = TransportJob(
                name=source[0],
                attributes=dict(self._attributes or {}),
                num_jobs=self._num_jobs,
                remote_input_files=list(self._remote_input_files or []),
                working_directory=self.workspace,
            )
            cached = (source, job, _job_state(job))
            self.__dict__["_condorpy_job"] = cached
        return cached[1]

    def update_database_fields(self):
        """Copy changes made on the condorpy object (attributes, proc count, input files)
        back into the fields."""
        cached = self.__dict__.get("_condorpy_job")
        if cached is None:
            return
        source, job, state = cached
        now = _job_state(job)
        if now != state:
            self._attributes = dict(job.attributes)
            self._num_jobs = job.num_jobs
            self._remote_input_files = list(job.remote_input_files or [])
            self.__dict__["_condorpy_job"] = (self._condorpy_source(), job, now)

    # --- fields -----------------------------------------------------------------------------------
    @property
    def attributes(self):
        """Submit-description commands as a dict."""
        self.update_database_fields()
        return self._attributes

    @attributes.setter
    def attributes(self, value):
        if not isinstance(value, dict):
            raise ValueError(f"attributes must be a dict, not {type(value).__name__}.")
        self.update_database_fields()
        self._attributes = dict(value)

    @property
    def num_jobs(self):
        """How many procs the cluster queues (``queue N``)."""
        self.update_database_fields()
        return self._num_jobs

    @num_jobs.setter
    def num_jobs(self, value):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"num_jobs must be a whole number, not {value!r}.") from None
        if value < 1:
            raise ValueError(f"num_jobs must be at least 1, not {value}.")
        self.update_database_fields()
        self._num_jobs = value

    @property
    def remote_input_files(self):
        """Local files copied to a remote submit host before submitting."""
        self.update_database_fields()
        return self._remote_input_files

    @remote_input_files.setter
    def remote_input_files(self, value):
        if isinstance(value, str):
            value = [value]
        self.update_database_fields()
        self._remote_input_files = [str(v) for v in (value or [])]

    @property
    def initial_dir(self):
        """The job's initial directory (``initialdir``) as a local path."""
        return os.path.normpath(os.path.join(self.workspace, self.condorpy_job.initial_dir))

    def get_attribute(self, name):
        """One submit-description command's value as condorpy's ``Job.get`` gives it:
        ``$(other)`` references resolved, ``None`` for a missing, empty or false value."""
        return self.condorpy_job.get(name)

    def set_attribute(self, name, value):
        """Set one submit-description command (lists and booleans are written in
        HTCondor's syntax, as condorpy does)."""
        self.condorpy_job.set(name, value)
        self.update_database_fields()


def _job_state(job):
    return (json.dumps(dict(job.attributes), sort_keys=True, default=str), job.num_jobs,
            tuple(job.remote_input_files or ()))
