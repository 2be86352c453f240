"""Who is acting: the `Actor` builders, accounts and API keys, logging in and the failed-login
throttle (`login.py`), sessions and tokens, password hashing and policy."""
