"""mosaic-diag: error prevention and auto-triage for the Mosaic platform."""

__version__ = "0.1.0"
