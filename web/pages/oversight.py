"""(being written)"""

from fastapi import APIRouter

from web.render import DeskRoute

router = APIRouter(route_class=DeskRoute, include_in_schema=False)
