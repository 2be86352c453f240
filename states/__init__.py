"""The domain: the use cases that change and read a case, each checking access inside itself,
recording its audit event and handing messages to `notifications` in the caller's transaction.

One subpackage per concept, so that where a rule lives can be read from the folder names:
`kernel` (errors, clock, text, locks, commune settings), `lifecycle` (triggers, machine, guards,
effects, workflow), `intake` (opening a case from a report), `cases` (queries, views, search,
referrals, export), `deadlines` (policy, calendar, ladder), `access` (permissions, scope, access
log), `identity` (actors, accounts, login, sessions), `audit` (chain, trail), `records`
(directory, statistics, retention, key rotation)."""
