"""Prefect flow: send what the outbox holds (SMS and the 111 hotline's status updates)."""

from prefect import flow, get_run_logger


@flow(name="dispatch-notifications", description="Send pending SMS and webhooks; retry, fail or give up.")
def dispatch_notifications() -> dict[str, int]:
    from kipthoi.wiring import build_jobs

    jobs = build_jobs()
    try:
        report = jobs.dispatcher.run()
    finally:
        jobs.dispatcher.close()  # each flow run is a dispatcher of its own: end it, free its lock
        jobs.db.dispose()
    get_run_logger().info("sent %d, retried %d, failed %d, dead %d", report.sent, report.retried,
                          report.failed, report.dead)
    return {"claimed": report.claimed, "sent": report.sent, "retried": report.retried,
            "failed": report.failed, "dead": report.dead, "expired": report.expired}
