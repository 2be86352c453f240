"""The `kipthoi` command: serve, db upgrade, audit verify, user create, demo, diagram."""

import argparse
import logging
import sys

from kipthoi.settings import Settings


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app
    from kipthoi.wiring import build_runtime, build_scheduler

    runtime = build_runtime(settings)
    app = create_app(runtime, max_body_bytes=settings.api.max_body_bytes,
                     background=build_scheduler(settings, runtime))
    print(f"kipthoi: {settings.commune.name} — http://{args.host}:{args.port}/docs "
          f"(database: {runtime.db.writer.dialect.name})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=args.log_level == "debug")
    return 0


def _db_upgrade(_: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import open_db

    open_db(settings).dispose()
    print("database is at the newest schema")
    return 0


def _audit_verify(_: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import open_db
    from states import audit

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


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.wiring import open_db
    from states.accounts import UserIn, create_user
    from states.actors import SYSTEM
    from states.clock import SystemClock

    db = open_db(settings)
    with db.write() as session:
        user, key = create_user(session, SystemClock(), SYSTEM, UserIn(
            username=args.username, display_name=args.display_name or args.username, role=args.role))
    db.dispose()
    print(f"user {user.username} ({user.role}) created; API key (shown once): {key}")
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
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    scheduler.shutdown()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from kipthoi.demo import seed
    from kipthoi.wiring import open_db

    db = open_db(settings)
    print(seed(db, settings.commune_policy()))
    db.dispose()
    return 0


def _diagram(_: argparse.Namespace, __: Settings) -> int:
    from states.diagram import mermaid

    print(mermaid())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kipthoi", description="Child-abuse report intake and intervention")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (migrates the database first)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate to the newest schema").set_defaults(func=_db_upgrade)
    audit = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="check the hash chain; exit 1 and name the first broken event").set_defaults(func=_audit_verify)
    user = sub.add_parser("user", help="accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create an account and print its API key")
    create.add_argument("username")
    create.add_argument("--role", required=True)
    create.add_argument("--display-name")
    create.set_defaults(func=_user_create)
    sub.add_parser("demo", help="seed a synthetic commune with reports").set_defaults(func=_demo)
    sub.add_parser("sweep", help="raise due alerts and send the outbox once").set_defaults(func=_sweep)
    sub.add_parser("scheduler", help="run the scheduler alone (sweep + dispatch)").set_defaults(func=_scheduler)
    sub.add_parser("diagram", help="print the case lifecycle as a Mermaid diagram").set_defaults(func=_diagram)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("transitions", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = Settings()
    if args.command == "serve":
        args.host = args.host or settings.api.host
        args.port = args.port or settings.api.port
    try:
        return int(args.func(args, settings))
    except Exception as exc:  # a clean one-line error for the operator, not a trace
        from pydantic import ValidationError

        from states.errors import DomainError

        if isinstance(exc, DomainError | ValidationError):
            print(f"kipthoi: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())
