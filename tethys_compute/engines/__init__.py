"""Adapters to external engines. The only code that talks to HTCondor or Dask; each
subpackage imports its engine's packages lazily, so the app runs without them."""
