"""Who hears about what: routing (`routing.toml`), templates, the outbox, the dispatcher and its
liveness, digests, and the SMS providers (Twilio, console).

Messages are enqueued in the transaction of the command that causes them and sent after
commit. This package imports only `models`: it is told events (a `CaseEvent`, a hook) by
`states` and `flows`, and decides no state of a case."""
