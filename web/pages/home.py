"""The home page: each role's desk (states/cases/desk.py), or the links of roles that read no case."""

from fastapi import APIRouter, Response

from states.cases.desk import desk
from states.records.directory import list_officials, list_places
from web.render import DeskRoute, StaffCtx, render

router = APIRouter(route_class=DeskRoute, include_in_schema=False)


@router.get("/")
def home(ctx: StaffCtx) -> Response:
    with ctx.rt.db.read() as session:
        queues = desk(session, ctx.actor, ctx.rt.policy.deadlines, ctx.rt.clock.now())
        names = {o["id"]: o["full_name"] for o in list_officials(session, ctx.actor)}
        places = {p.code: p.name for p in list_places(session, ctx.actor)}
    return render(ctx, "home.html", title=ctx.lang.gettext("Trang chính"), desk=queues, names=names,
                  place_names=places)
