"""The workflow: the case lifecycle machine, guards, deadlines and the use cases that change a
case, each recording its audit event and handing messages to `notifications` in the caller's
transaction. Domain errors live in `states.errors`."""
