"""Who may touch what: role × action (`permissions.py`), which cases and which view of a case an
actor gets (`scope.py`), and the access log of every private field read (`log.py`)."""
