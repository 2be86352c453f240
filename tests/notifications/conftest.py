"""The wire-level Twilio fake, started for each test that asks for it."""

from collections.abc import Iterator

import pytest

from tests.fakes.twilio_server import FakeTwilio


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    server = FakeTwilio().start()
    yield server
    server.stop()
