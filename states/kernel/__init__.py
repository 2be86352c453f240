"""The shared kernel of the domain: errors, the clock, text as users type it, row locks and the
commune's own settings (`commune.py`). Everything else in `states` may import it; it imports
only `models` and `notifications.config`, never another domain package."""
