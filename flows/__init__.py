"""Scheduled work (deadline sweep, notification dispatch) as Prefect flows around plain
functions, and wired into APScheduler for the embedded mode. Arrives with issue 3."""
