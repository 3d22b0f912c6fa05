"""Fixtures of the fault-injection suite."""

import pytest

from tests.helpers.faults import Scenario


@pytest.fixture
def sc(tmp_path, smtp_server, redis_queue):
    """The test's Scenario (tests/helpers/faults.py) on a Redis queue of its own, closed after."""
    scenario = Scenario(tmp_path, smtp_server, redis_queue)
    yield scenario
    scenario.close()
