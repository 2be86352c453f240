"""The legal clocks: the policy (`policy.toml` read by `policy.py`), Vietnam's working-day
calendar, and the ladder each deadline walks (`ladder.py`: open, meet, cancel, raise alerts,
acknowledge)."""
