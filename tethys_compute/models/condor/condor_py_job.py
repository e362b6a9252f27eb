from django.db import models


class CondorPyJob(models.Model):
    """The submit description of an HTCondor job (table ``tethys_compute_condorpyjob``).

    ``attributes`` are submit-description commands (``{"executable": "run.sh",
    "arguments": "1 2"}``); ``num_jobs`` the ``queue`` count; ``remote_input_files`` the
    local paths copied to a remote submit host.
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
        """Return the attributes of a condorpy template (``base``, ``vanilla_base``,
        ``vanilla_transfer_files``, ``vanilla_nfs``), falling back to ``base``.

        :raises ImportError: if condorpy is not installed (``pip install tethys-compute[condor]``).
        """
        from ...engines.condor.templates import get_template

        return get_template(template_name)

    @property
    def attributes(self):
        """Submit-description commands as a dict."""
        return self._attributes

    @attributes.setter
    def attributes(self, value):
        if not isinstance(value, dict):
            raise ValueError(f"attributes must be a dict, not {type(value).__name__}.")
        self._attributes = value

    @property
    def num_jobs(self):
        """How many procs the cluster queues (``queue N``)."""
        return self._num_jobs

    @num_jobs.setter
    def num_jobs(self, value):
        value = int(value)
        if value < 1:
            raise ValueError(f"num_jobs must be at least 1, not {value}.")
        self._num_jobs = value

    @property
    def remote_input_files(self):
        """Local files copied to a remote submit host before submitting."""
        return self._remote_input_files

    @remote_input_files.setter
    def remote_input_files(self, value):
        self._remote_input_files = list(value or [])

    def get_attribute(self, name):
        """Return one submit-description command's value, or ``None``."""
        return (self._attributes or {}).get(name)

    def set_attribute(self, name, value):
        """Set one submit-description command."""
        attributes = dict(self._attributes or {})
        attributes[name] = value
        self._attributes = attributes
