"""The `docker` tests: a private Docker engine with the project's images, built once per run."""
import os

import pytest

from tests.docker.engine import Engine
from tunestack import images


@pytest.fixture(scope="session")
def engine():
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    e = Engine()
    try:
        e.start()
        images.build(e.client, say=lambda m: print(m, flush=True))
        yield e
    finally:
        e.stop()
