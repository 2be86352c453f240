"""Opening a case from a report (Nghị định 56 Art. 25–26, Mẫu 01): what each channel may carry
(`report_data.py`), the idempotent `opening.receive` use case, matching a report to an open case
by blind index (`matching.py`), and the case and tracking codes."""
