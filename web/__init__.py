"""The commune's desk: pages people read, beside the JSON API (`api/`).

Pages call the same `states/` use cases as the API and hold no rule of their own: a handler
builds its context (`web/render.py`: who, which language, the CSRF check), calls one use case,
renders one template. Forms for the lifecycle's steps are made from the trigger table
(`web/forms.py` reads `states/lifecycle/triggers.SPECS`).

`install(app)` adds the pages to the API's app, so one `kipthoi serve` serves both: staff
pages under `/` and `/desk/…`, the public report page at `/bao-cao`, its lookup at `/tra-cuu`."""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from web.pages import auth, cases, evidence, home, intake, oversight

    for module in (auth, home, cases, intake, oversight):
        app.include_router(module.router)
    app.include_router(evidence.router)
    from web.pages import prints  # printouts of a case (Mẫu 01–06, .docx)

    app.include_router(prints.router)
    app.state.case_printer = prints.layout  # the API's print routes (api/routers/prints.py) lay out with it
    from web.pages import handover  # a transferred case's package; its printer makes the API's ZIP too

    app.include_router(handover.router)
    app.state.handover_printer = handover.layout  # the API's handover ZIP (api/routers/handover.py)
