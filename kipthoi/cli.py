"""The `kipthoi` command: serve, db upgrade, audit verify/viewers, user create, demo, diagram,
keys, retention."""

import argparse
import contextlib
import os
import sys

from kipthoi.logs import LEVELS
from kipthoi.logs import configure as configure_logging
from kipthoi.settings import Settings


def _workers(args: argparse.Namespace, settings: Settings) -> int:
    from models.db import sqlite_file

    if settings.db.url.startswith("sqlite") and sqlite_file(settings.db.url) is None:
        return 1  # an in-memory database lives in one process
    wanted = args.workers if args.workers is not None else settings.api.workers
    return wanted or min(os.cpu_count() or 1, 4)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _banner(args: argparse.Namespace, settings: Settings, workers: int, access_log: bool) -> str:
    """What an operator needs to know at a glance, once: where it listens, what it writes to,
    who runs the schedule, where messages go, and (development) where its secrets are."""
    from sqlalchemy.engine import make_url

    from kipthoi.wiring import sms_destination
    from models.db import sqlite_file

    url = make_url(settings.db.url)
    database = (f"SQLite {os.path.abspath(sqlite_file(settings.db.url) or ':memory:')}"
                if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True))
    scheduler = {"embedded": f"embedded, in this process (every {settings.scheduler.tick_seconds:g} s)",
                 "prefect": "prefect (Prefect workers run the sweep and the dispatch)",
                 "off": "off (nothing sends alerts or messages)"}[settings.scheduler.mode]
    host = f"[{args.host}]" if ":" in args.host else args.host
    lines = [f"kipthoi — {settings.commune.name} ({settings.environment})",
             f"  url        http://{host}:{args.port}  (API documentation: /docs)",
             f"  database   {database}",
             f"  scheduler  {scheduler}",
             f"  sms        {sms_destination(settings)}",
             f"  workers    {workers} process{'es' if workers > 1 else ''}",
             f"  log        {args.log_level}; access log {'on' if access_log else 'off'}"]
    if settings.security.secret is None:
        dev = settings.dev_secrets()
        lines.append(f"  secrets    {dev.path or 'in memory (in-memory database)'} — generated for "
                     "development; back it up with the database")
    return "\n".join(lines)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from kipthoi import logs
    from kipthoi.wiring import build_app, build_runtime, build_scheduler

    if (settings.environment == "development" and not _loopback(args.host)
            and not (args.allow_remote or settings.api.allow_remote)):
        raise ValueError(f"refusing to listen on {args.host} in development: its secrets are generated "
                         "on this machine and its data is for trying out. Use --allow-remote (or "
                         "KIPTHOI_API__ALLOW_REMOTE=true) if you mean it; production sets "
                         "KIPTHOI_ENVIRONMENT=production with its own secret and keys")
    workers = _workers(args, settings)
    runtime = build_runtime(settings)  # migrates the database, once, before any worker starts
    scheduler = build_scheduler(settings, runtime)
    access_log = settings.api.access_log if settings.api.access_log is not None \
        else settings.environment == "production"
    print(_banner(args, settings, workers, access_log), flush=True)
    options = {"host": args.host, "port": args.port, "log_level": args.log_level, "access_log": access_log,
               "log_config": logs.config(args.log_level, access_log=access_log)}
    if workers == 1:
        app = build_app(settings, runtime, background=scheduler)
        uvicorn.run(app, **options)
        return 0
    # Several processes: uvicorn starts each worker from `kipthoi.asgi`, which builds its own
    # runtime from the same settings (the environment). The one scheduler runs here, in the
    # supervising process, so that sweeps and dispatch do not run once per worker.
    if scheduler is not None:
        scheduler.start()
    try:
        uvicorn.run("kipthoi.asgi:create", factory=True, workers=workers, **options)
    finally:
        if scheduler is not None:
            scheduler.shutdown()
        runtime.db.dispose()
    return 0


def _db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import open_db

    open_db(settings).dispose()
    print("database is at the newest schema")
    return 0


def _audit_verify(_: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import open_db
    from states.audit import chain as audit

    db = open_db(settings, migrate=False)
    with db.read() as session:
        verdict = audit.verify(session)
    db.dispose()
    if verdict.ok:
        print(f"audit trail intact: {verdict.checked} events verified")
        return 0
    print(f"AUDIT TRAIL BROKEN at event {verdict.broken_seq}: {verdict.reason} "
          f"({verdict.checked} events verified before it)", file=sys.stderr)
    return 1


def _audit_viewers(args: argparse.Namespace, settings: Settings) -> int:
    """Who has read a child's record: every access event on any case about the child of CODE."""
    from kipthoi.wiring import open_db
    from models.enums import Role
    from states.access import log as access_log
    from states.identity.actors import Actor
    from states.kernel.clock import SystemClock

    # Whoever runs the CLI on the server acts as an auditor, and is recorded as the CLI.
    auditor = Actor(ref="cli:audit", role=Role.AUDITOR)
    db = open_db(settings, migrate=False)
    with db.write() as session:  # the auditor's look is itself recorded
        rows = access_log.viewers(session, SystemClock(), auditor, args.code)
    db.dispose()
    if not rows:
        print(f"no recorded reads of the child of {args.code}")
    for row in rows:
        print(f"{row['at']:%Y-%m-%d %H:%M:%S%z}  {row['actor']:20} {row['action']:15} {row['case']:16} "
              f"{row['view'] or '-':8} {','.join(row['fields'])}")
    return 0


def _retention_run(args: argparse.Namespace, settings: Settings) -> int:
    from flows.jobs import run_retention
    from kipthoi.wiring import build_jobs

    jobs = build_jobs(settings)
    cases = run_retention(jobs.db, jobs.clock, jobs.policy, dry_run=args.dry_run)
    jobs.db.dispose()
    verb = "would anonymise" if args.dry_run else "anonymised"
    print(f"retention ({jobs.policy.retention_years} years after closure): {verb} {len(cases)} cases"
          + (": " + ", ".join(cases) if cases else ""))
    return 0


def _read_password(args: argparse.Namespace) -> str:
    from states.kernel.errors import InvalidInput

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    password = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != password:
        raise InvalidInput("password", "confirmation", "Hai lần nhập mật khẩu không khớp.",
                           "The two passwords differ.")
    return password


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    """People get a password (asked twice, or one line of stdin) and log in with it; the 111
    hotline gets an API key, printed once."""
    from pydantic import SecretStr

    from kipthoi.wiring import build_auth, open_db
    from models.enums import Role
    from states.identity.accounts import UserIn, add_user
    from states.identity.actors import SYSTEM
    from states.kernel.clock import SystemClock

    data = UserIn(username=args.username, display_name=args.display_name or args.username,
                  role=args.role, official_id=args.official_id)  # refuse a bad role before asking
    if data.role != Role.HOTLINE:
        data = data.model_copy(update={"password": SecretStr(_read_password(args))})
    db = open_db(settings)
    with db.write() as session:
        user, key = add_user(session, SystemClock(), SYSTEM, data, build_auth(settings).passwords)
    db.dispose()
    if key is not None:
        print(f"user {user.username} ({user.role}) created; API key (shown once): {key}")
        print("send it as 'Authorization: Bearer <key>'")
        return 0
    url = settings.notify.public_url.rstrip("/")
    print(f"user {user.username} ({user.role}) created. Log in (OAuth2 password flow):")
    print(f"  curl -s {url}/auth/token -d grant_type=password -d username={user.username} "
          "--data-urlencode 'password=<the password>'")
    print("then send the access_token as 'Authorization: Bearer <access_token>'")
    return 0


def _sweep(_: argparse.Namespace, settings: Settings) -> int:
    from flows.jobs import run_sweep
    from kipthoi.wiring import build_jobs

    jobs = build_jobs(settings)
    report = run_sweep(jobs.db, jobs.clock, jobs.policy)
    print(f"sweep: {report.alerts} alerts raised on {report.deadlines} deadlines")
    sent = jobs.dispatcher.run()
    print(f"dispatch: {sent.sent} sent, {sent.retried} to retry, {sent.failed} failed, {sent.dead} dead")
    jobs.db.dispose()
    return 0


def _scheduler(_: argparse.Namespace, settings: Settings) -> int:
    """The embedded scheduler on its own, for deployments with several API workers."""
    import signal
    import threading

    from kipthoi.wiring import build_runtime, build_scheduler

    scheduler = build_scheduler(settings.model_copy(update={"scheduler": settings.scheduler.model_copy(
        update={"mode": "embedded"})}), build_runtime(settings))
    assert scheduler is not None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler.start()
    print("kipthoi scheduler running (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    scheduler.shutdown()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.demo import seed
    from kipthoi.wiring import build_auth, open_db

    db = open_db(settings)
    print(seed(db, settings.commune_policy(), build_auth(settings).passwords))
    db.dispose()
    return 0


def _keys_generate(_: argparse.Namespace, __: Settings) -> int:
    import base64
    import secrets
    import time

    kid = f"k{time.strftime('%Y%m%d')}{secrets.token_hex(2)}"
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    print(f"""new key (secret: keep it with the service's other secrets, never in the repository)
  id:  {kid}
  key: {key}

as a data key:
  1. add it to KIPTHOI_CRYPTO__KEYS, keeping the keys already there:
       KIPTHOI_CRYPTO__KEYS='{{"<old id>": "<old key>", "{kid}": "{key}"}}'
  2. KIPTHOI_CRYPTO__ACTIVE_KEY_ID={kid}, then restart the service: new values use it
  3. kipthoi keys rotate    re-encrypts older values (safe while the service runs)
  4. when kipthoi keys status shows nothing under the old id, remove it from the keys
as the index key (blind indexes for search and matching):
  KIPTHOI_CRYPTO__INDEX_KEY={key}, restart, then kipthoi keys rotate recomputes the indexes""")
    return 0


def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import build_keyring, open_db
    from states.identity.actors import SYSTEM
    from states.kernel.clock import SystemClock
    from states.records import key_rotation as keys

    db = open_db(settings)
    report = keys.rotate(db, SystemClock(), SYSTEM, build_keyring(settings),
                         settings.crypto_keys().index_key, batch=args.batch,
                         evidence_store=settings.evidence.store())
    db.dispose()
    print(f"active key {report.active_key_id}, index key {report.index_key_id}")
    for table in sorted(set(report.reencrypted) | set(report.from_plaintext) | set(report.reindexed)):
        print(f"  {table:18} re-encrypted {report.reencrypted[table]:7}  "
              f"from plaintext {report.from_plaintext[table]:7}  reindexed {report.reindexed[table]:7}")
    if report.skipped:
        print(f"  {report.skipped} rows changed meanwhile (already under the active key)")
    if report.from_plaintext:
        print("plaintext from before encryption may linger in the database's free pages: compact it "
              "at a quiet time (SQLite: VACUUM; PostgreSQL: VACUUM FULL of those tables)")
    print("done: every value is under the active key" if not report.skipped
          else "done; run again to confirm nothing is left")
    return 0


def _keys_status(_: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import build_keyring, open_db
    from states.identity.actors import SYSTEM
    from states.records import key_rotation as keys

    keyring = build_keyring(settings)
    db = open_db(settings, migrate=False)
    with db.read() as session:
        counts = keys.status(session, SYSTEM, settings.crypto_keys().index_key)
    db.dispose()
    print(f"active key {keyring.active_key_id}; keys held: {', '.join(keyring.key_ids)}")
    behind = 0
    for table, by_key in counts.items():
        for kid, n in sorted(by_key.items()):
            note = "" if kid == keyring.active_key_id else "  <- kipthoi keys rotate"
            behind += 0 if kid == keyring.active_key_id else n
            print(f"  {table:18} {kid:16} {n:8}{note}")
    print("all values under the active key, all indexes current" if not behind else
          f"{behind} values or indexes need `kipthoi keys rotate`")
    return 0


def _diagram(_: argparse.Namespace, __: Settings) -> int:
    from states.lifecycle.diagram import mermaid

    print(mermaid())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kipthoi", description="Child-abuse report intake and intervention")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (migrates the database first)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--log-level", choices=LEVELS, default=None,
                       help="default KIPTHOI_LOG_LEVEL, else info (debug adds scheduler ticks and job runs)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="development only: listen on an address other than loopback")
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes (default KIPTHOI_API__WORKERS, else one per core, at most 4)")
    serve.set_defaults(func=_serve)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate to the newest schema").set_defaults(func=_db_upgrade)
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="check the hash chain; exit 1 and name the first broken event").set_defaults(
        func=_audit_verify)
    viewers = audit.add_parser("viewers", help="who has read the record of the child of a case")
    viewers.add_argument("code", help="a case code, e.g. NH-2026-000123")
    viewers.set_defaults(func=_audit_viewers)
    retention = sub.add_parser("retention", help="data retention").add_subparsers(dest="retention_command",
                                                                                   required=True)
    run_retention = retention.add_parser("run", help="anonymise closed cases past the retention limit")
    run_retention.add_argument("--dry-run", action="store_true", help="list the cases, change nothing")
    run_retention.set_defaults(func=_retention_run)
    user = sub.add_parser("user", help="accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="an account: a person's password, or the hotline's API key")
    create.add_argument("username")
    create.add_argument("--role", required=True)
    create.add_argument("--display-name")
    create.add_argument("--official-id", type=int)
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin instead of asking twice")
    create.set_defaults(func=_user_create)
    sub.add_parser("demo", help="seed a synthetic commune with reports").set_defaults(func=_demo)
    sub.add_parser("sweep", help="raise due alerts and send the outbox once").set_defaults(func=_sweep)
    sub.add_parser("scheduler", help="run the scheduler alone (sweep + dispatch)").set_defaults(func=_scheduler)
    sub.add_parser("diagram", help="print the case lifecycle as a Mermaid diagram").set_defaults(func=_diagram)
    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("generate", help="print a new random key and how to use it").set_defaults(func=_keys_generate)
    rotate = keys.add_parser("rotate", help="re-encrypt under the active key; recompute stale indexes")
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction")
    rotate.set_defaults(func=_keys_rotate)
    keys.add_parser("status", help="count stored values per key id per table").set_defaults(func=_keys_status)

    args = parser.parse_args(argv)
    try:
        settings = Settings()
        if args.command == "serve":
            args.host = args.host or settings.api.host
            args.port = args.port or settings.api.port
            args.log_level = args.log_level or settings.log_level
        configure_logging(getattr(args, "log_level", None) or settings.log_level)
        return int(args.func(args, settings))
    except Exception as exc:  # a clean one-line error for the operator, not a trace
        from pydantic import ValidationError

        from states.kernel.errors import DomainError

        # Configuration refusals (production secrets and keys) are ValueErrors: one line too.
        if isinstance(exc, DomainError | ValidationError | ValueError):
            print(f"kipthoi: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
