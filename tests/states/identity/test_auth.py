"""The login rules without HTTP: the throttle's schedule, the password policy and hashes, the
failure counter in the database (keyed so that no username is stored), token rotation."""

from datetime import timedelta

import pytest
from argon2 import PasswordHasher, extract_parameters
from pydantic import SecretStr
from sqlalchemy import select, text

from models import AuthSession, Database, LoginThrottle, RefreshToken, User
from models.enums import Role
from states.identity import login as auth
from states.identity import sessions
from states.identity.accounts import UserIn, create_user
from states.identity.actors import SYSTEM
from states.identity.login import AuthConfig, InvalidCredentials, LoginPolicy, TooManyAttempts
from states.identity.passwords import HashCost, Passwords, check_policy
from states.identity.sessions import TokenPair
from states.kernel.clock import FrozenClock
from states.kernel.errors import InvalidInput

CHEAP = HashCost(time_cost=1, memory_kib=8, parallelism=1)
PASSWORD = "ngựa-pin-kẹp-giấy-đúng"


@pytest.fixture
def config() -> AuthConfig:
    return AuthConfig(passwords=Passwords(CHEAP))


def make_user(db: Database, clock: FrozenClock, config: AuthConfig, username: str = "lan.tran",
              password: str | None = PASSWORD) -> int:
    with db.write() as s:
        user, _ = create_user(s, clock, SYSTEM, UserIn(
            username=username, display_name="Trần Thị Thử", role=Role.CASE_WORKER,
            password=SecretStr(password) if password else None), config.passwords)
        return user.id or 0


def attempt(db: Database, clock: FrozenClock, config: AuthConfig, username: str,
            password: str) -> TokenPair | Exception:
    try:
        with db.read() as s:
            tried = auth.check_login(s, clock, config, username, password)
    except TooManyAttempts as exc:
        return exc
    with db.write() as s:
        return auth.finish_login(s, clock, config, tried)


# --- the schedule ----------------------------------------------------------------------------


def test_the_delay_doubles_from_the_third_failure_caps_at_a_minute_and_the_tenth_locks() -> None:
    policy = LoginPolicy()
    schedule = [policy.block_for(n) for n in range(1, 13)]
    seconds = [None if d is None else d.total_seconds() for d in schedule]
    assert seconds == [None, None, 1, 2, 4, 8, 16, 32, 60, 900, 900, 900]


def test_the_schedule_follows_its_settings() -> None:
    policy = LoginPolicy(delay_after=2, max_delay=timedelta(seconds=5), lockout_after=5,
                         lockout=timedelta(minutes=1))
    assert [policy.block_for(n) for n in range(1, 7)] == [
        None, timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4),
        timedelta(minutes=1), timedelta(minutes=1)]


# --- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "rule"), [
    ("ngắn-quá", "min_length"),
    ("x" * 257, "max_length"),
    ("mật-khẩu-của-LAN.TRAN-đây", "not_username"),
])
def test_the_policy_names_the_field_and_the_rule(password: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_policy(password, "lan.tran")
    assert (caught.value.field, caught.value.rule) == ("password", rule)
    assert caught.value.message_vi and caught.value.message_en


def test_twelve_characters_without_the_username_pass() -> None:
    check_policy("đúng-mười-hai", "lan.tran")


def test_hashes_are_argon2id_and_a_cost_change_asks_for_a_rehash() -> None:
    cheap, other = Passwords(CHEAP), Passwords(HashCost(time_cost=2, memory_kib=16, parallelism=1))
    stored = cheap.hash(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert cheap.verify(stored, PASSWORD) and not cheap.verify(stored, PASSWORD + "!")
    assert other.verify(stored, PASSWORD)  # parameters travel with the hash
    assert not cheap.needs_rehash(stored) and other.needs_rehash(stored)


def test_no_stored_hash_never_verifies() -> None:
    assert not Passwords(CHEAP).verify(None, PASSWORD)
    assert not Passwords(CHEAP).verify("not a hash", PASSWORD)


def test_the_default_cost_is_the_librarys_default() -> None:
    params = extract_parameters(Passwords().hash(PASSWORD))
    library = PasswordHasher()
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        library.time_cost, library.memory_cost, library.parallelism)


# --- the counter in the database -------------------------------------------------------------


def test_failures_are_counted_under_a_keyed_hash_not_the_username(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    make_user(db, clock, config)
    for name in ("lan.tran", "no.such.person"):
        assert isinstance(attempt(db, clock, config, name, "sai-mật-khẩu-rồi"), InvalidCredentials)
    with db.read() as s:
        rows = s.execute(select(LoginThrottle)).scalars().all()
        dump = " ".join(str(v) for v in s.execute(text("SELECT * FROM login_throttle")).all())
    assert sorted(r.failures for r in rows) == [1, 1]
    assert "lan.tran" not in dump and "no.such.person" not in dump
    assert all(r.last_failed_at == clock.now() for r in rows)


def test_a_blocked_username_is_refused_before_its_password_is_checked(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    make_user(db, clock, config)
    for _ in range(3):
        attempt(db, clock, config, "lan.tran", "sai-mật-khẩu-rồi")
    refused = attempt(db, clock, config, "lan.tran", PASSWORD)  # the right password, too early
    assert isinstance(refused, TooManyAttempts) and refused.code == "login_throttled"
    assert refused.extra["retry_after"] == 1
    clock.advance(timedelta(seconds=1))
    assert isinstance(attempt(db, clock, config, "lan.tran", PASSWORD), TokenPair)
    with db.read() as s:  # success forgets the failures
        assert s.execute(select(LoginThrottle)).first() is None


def test_failures_are_forgotten_after_a_quiet_day(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    for _ in range(2):
        attempt(db, clock, config, "someone", "sai-mật-khẩu-rồi")
    clock.advance(timedelta(days=1, seconds=1))
    attempt(db, clock, config, "someone.else", "sai-mật-khẩu-rồi")
    with db.read() as s:
        assert [r.failures for r in s.execute(select(LoginThrottle)).scalars()] == [1]


def test_a_username_is_matched_whatever_its_case_and_surrounding_space(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    make_user(db, clock, config)
    assert isinstance(attempt(db, clock, config, "  Lan.Tran ", PASSWORD), TokenPair)


# --- sessions --------------------------------------------------------------------------------


def test_rotation_marks_the_old_refresh_token_used_and_stores_only_digests(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    make_user(db, clock, config)
    first = attempt(db, clock, config, "lan.tran", PASSWORD)
    assert isinstance(first, TokenPair)
    with db.write() as s:
        second = auth.refresh(s, clock, config, first.refresh_token)
    assert isinstance(second, TokenPair) and second.session_id == first.session_id
    with db.read() as s:
        tokens = s.execute(select(RefreshToken).order_by(RefreshToken.id)).scalars().all()
        assert [t.used_at is not None for t in tokens] == [True, False]
        assert {t.token_hash for t in tokens} == {sessions.digest(first.refresh_token),
                                                  sessions.digest(second.refresh_token)}
        assert tokens[1].expires_at == clock.now() + timedelta(hours=12)


def test_access_tokens_of_a_revoked_session_are_refused(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    user_id = make_user(db, clock, config)
    pair = attempt(db, clock, config, "lan.tran", PASSWORD)
    assert isinstance(pair, TokenPair)
    with db.read() as s:
        login = sessions.login_for_access_token(s, clock.now(), config.tokens, pair.access_token)
    assert login is not None and login.user_id == user_id and login.session_id == pair.session_id
    assert login.actor.ref == f"user:{user_id}" and login.actor.role == Role.CASE_WORKER
    with db.write() as s:
        assert sessions.revoke(s, clock.now(), "logout", session_id=pair.session_id) == 1
    with db.read() as s:
        assert sessions.login_for_access_token(s, clock.now(), config.tokens, pair.access_token) is None
        assert s.get(AuthSession, pair.session_id).revoked_reason == "logout"  # type: ignore[union-attr]


def test_an_account_without_a_password_cannot_log_in(
        db: Database, clock: FrozenClock, config: AuthConfig) -> None:
    make_user(db, clock, config, username="tongdai", password=None)
    with db.read() as s:
        assert s.execute(select(User.password_hash)).scalar_one() is None
    assert isinstance(attempt(db, clock, config, "tongdai", ""), InvalidCredentials)
