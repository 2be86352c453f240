"""Prefect flow: anonymise closed cases past the commune's retention limit."""

from prefect import flow, get_run_logger


@flow(name="retention", description="Anonymise closed cases past the retention limit (audited).")
def retention(dry_run: bool = False) -> dict[str, int]:
    # Composition at the edge: a deployment's entrypoint has no caller to hand it the runtime.
    from flows.jobs import run_retention
    from kipthoi.wiring import build_jobs

    jobs = build_jobs()
    try:
        cases = run_retention(jobs.db, jobs.clock, jobs.policy, dry_run=dry_run)
    finally:
        jobs.db.dispose()
    # Counts only: the case codes are in the audit trail (run_retention logs the run itself).
    get_run_logger().info("retention: %s %d closed cases", "would anonymise" if dry_run else "anonymised",
                          len(cases))
    return {"cases": len(cases)}
