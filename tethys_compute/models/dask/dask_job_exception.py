class DaskJobException(Exception):
    """A Dask job could not be run or queried (Tethys's name)."""
