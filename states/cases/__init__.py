"""Reading a case and its neighbours: the worklist and one case as the reader may see it
(`queries.py`, `views.py`, typed in `case_views.py`), search by blind index, referrals to
agencies, the worklist CSV and the legal representative's export."""
