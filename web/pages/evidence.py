"""The case page's evidence attachments: the section listing them (with a download link each)
and the upload form; the handlers of both.

The upload is a multipart form, read in memory (api/uploads.py) rather than by `web.render.form`,
which takes no files; its CSRF token is checked the same way before anything is stored. The
section itself is listed by the case page's handler, in the same transaction as the case."""


from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.uploads import file_response, read_upload
from states.kernel.errors import InvalidInput
from states.records import evidence
from web import session as desk_session
from web.pages.cases import _case_page
from web.render import CsrfRefused, DeskRoute, StaffCtx, redirect

router = APIRouter(prefix="/desk/cases", route_class=DeskRoute, include_in_schema=False)


@router.post("/{code}/attachments")
async def upload(ctx: StaffCtx, code: str) -> Response:
    form = await read_upload(ctx.request)
    sid = ctx.desk.login.session_id if ctx.desk is not None else None
    if not desk_session.token_ok(ctx.rt, ctx.request, form.fields.get("csrf"), sid):
        raise CsrfRefused()

    def write() -> None:
        with ctx.rt.db.write() as session:
            evidence.upload(session, ctx.rt.clock, ctx.actor, ctx.rt.policy.evidence_store, code,
                            kind=form.fields.get("kind", ""), data=form.data or b"",
                            label=form.fields.get("label"), file_name=form.filename,
                            max_bytes=ctx.rt.policy.evidence_max_bytes)

    try:
        await run_in_threadpool(write)
    except InvalidInput as e:
        return _case_page(ctx, code, 422, problem=ctx.lang.pair(e.message_vi, e.message_en))
    return redirect(ctx, f"/desk/cases/{code}?ok=attachment#attachments")


@router.get("/{code}/attachments/{attachment_id}")
def download(ctx: StaffCtx, code: str, attachment_id: int) -> Response:
    with ctx.rt.db.write() as session:  # the download is on the access log
        found = evidence.download(session, ctx.rt.clock, ctx.actor, ctx.rt.policy.evidence_store, code,
                                  attachment_id)
    return file_response(found)
