"""Scheduled work (the deadline sweep, notification dispatch with its digests, retention) as
plain functions (`jobs.py`), run by Prefect flows in the distributed mode and by APScheduler
inside `kipthoi serve` in the embedded mode. Both are safe to run twice at once."""
