"""Prefect flow: raise the alerts of every legal time limit that has come due."""

from dataclasses import asdict

from prefect import flow, get_run_logger


@flow(name="deadline-sweep", description="Raise reminders, overdue alerts and escalations that are due.")
def deadline_sweep() -> dict[str, int]:
    # Composition at the edge: a deployment's entrypoint has no caller to hand it the runtime.
    from flows.jobs import run_sweep
    from kipthoi.wiring import build_jobs

    jobs = build_jobs()
    try:
        report = run_sweep(jobs.db, jobs.clock, jobs.policy)
    finally:
        jobs.db.dispose()
    get_run_logger().info("raised %d alerts on %d deadlines", report.alerts, report.deadlines)
    if report.failed:
        # The others were swept; failing the run makes the broken ones visible in Prefect.
        raise RuntimeError(f"{report.failed} deadlines could not be swept (see the log)")
    return asdict(report)
