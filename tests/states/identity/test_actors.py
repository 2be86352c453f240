"""`Actor.is_public` means an anonymous citizen and nothing else. The system's jobs and an
official acting through an SMS link have no role either; taking them for the public would,
for example, scope an idempotency key as a citizen's or file a report without its submitter."""

from models.enums import Role
from states.identity.actors import PUBLIC, Actor


def test_only_the_anonymous_citizen_is_public() -> None:
    assert PUBLIC.is_public
    for actor in (Actor.system("deadline-sweep"), Actor.system("retention", Role.ADMIN), Actor.by_link(7)):
        assert actor.role in (None, Role.ADMIN) and not actor.is_public, actor


def test_refs_have_one_shape_per_kind_of_actor() -> None:
    class Row:
        id, role, official_id = 12, "head", 3

    assert Actor.of_user(Row()) == Actor(ref="user:12", role=Role.HEAD, official_id=3)
    assert Actor.system("dispatcher").ref == "system:dispatcher"
    assert Actor.by_link(7) == Actor(ref="official:7", role=None, official_id=7)
