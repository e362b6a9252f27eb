"""The jobs table feature: options (``JobsTable``, ``CustomJobAction``), views, template
and script."""
