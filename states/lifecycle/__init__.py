"""The case lifecycle: every trigger in one table (`triggers.py`), the `transitions` machine made
from it, the guards, the effects on the case file, the input models, and `workflow.py`, the use
cases that fire a trigger, assign, write a note. `events.py` hands what happened to
`notifications`."""
