"""tethys_compute: the Tethys Platform Jobs API as a standalone Django app."""

__version__ = "0.1.0"
