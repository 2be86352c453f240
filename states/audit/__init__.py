"""The tamper-evident audit trail: appending and verifying the hash chain (`chain.py`) and the
auditor's reading of it (`trail.py`)."""
