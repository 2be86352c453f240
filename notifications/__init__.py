"""Who hears about what: routing, templates, the outbox and SMS providers.

Empty for now: the deadlines-and-SMS work (issue 3) fills it. The workflow already writes
every change as an audit event in the command's transaction, which is where the outbox rows
will be enqueued."""
