"""Twilio's delivery status callbacks. Signed with the account's auth token against the public
URL we gave Twilio; anything unsigned, badly signed, or arriving while no token is configured
gets 403."""

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from api.deps import RuntimeDep
from api.errors import error_response, responses
from notifications.callbacks import SignatureRefused, check_signature, record_status
from notifications.unreachable import tell_unreachable
from states.audit import chain as audit
from states.identity.actors import Actor

router = APIRouter(tags=["webhooks"])
PATH = "/webhooks/twilio/status"
CALLBACKS = Actor.system("twilio-callback")


@router.post(PATH, status_code=204, responses=responses(403, 422))
async def twilio_status(request: Request, rt: RuntimeDep) -> Response:
    # Twilio posts application/x-www-form-urlencoded; parsed here, because Starlette's
    # `request.form()` needs python-multipart, which is not a dependency (it answered 500).
    body = (await request.body()).decode("utf-8", "replace")
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = rt.policy.notify.public_url + PATH + (f"?{request.url.query}" if request.url.query else "")
    try:
        check_signature(rt.twilio_auth_token, url, params, request.headers.get("X-Twilio-Signature"))
    except SignatureRefused:
        return error_response(403, "bad_signature", "Chữ ký không hợp lệ.", "Signature refused.")
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not sid or not status or len(sid) > 64 or len(status) > 16:
        return error_response(422, "validation_error", "Thiếu MessageSid hoặc MessageStatus.",
                              "MessageSid and MessageStatus are required.", field="MessageSid",
                              rule="required")
    now = rt.clock.now()
    with rt.db.write() as session:
        result = record_status(session, now, sid, status, params.get("ErrorCode"))
        if result.unreachable_official is not None:
            heads = tell_unreachable(session, rt.policy.notify, now, official_id=result.unreachable_official,
                                     reason=params.get("ErrorCode"), key=f"unreachable-cb:{sid}")
            audit.record(session, at=now, actor=CALLBACKS, action="notification.unreachable", case_id=None,
                         after={"official": result.unreachable_official,
                                "error_code": params.get("ErrorCode"), "recipients": heads})
    return Response(status_code=204)
