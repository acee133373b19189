"""Fixtures of the fired-for-real tests."""
import pytest

from tests.monitoring.alerting import Receiver


@pytest.fixture(scope="module")
def receiver():
    """Alertmanager's webhook receiver on loopback, one per module (each has its own stack)."""
    r = Receiver()
    yield r
    r.close()
