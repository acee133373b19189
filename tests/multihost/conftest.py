"""The staging shape deployed once on the test bed, shared by every multihost module."""
import os

import pytest

from tests.multihost.bed import Bed
from tests.multihost.staging import deploy


@pytest.fixture(scope="package")
def staging(engine, tmp_path_factory):
    bed = Bed()
    path_before = os.environ["PATH"]
    try:
        bed.start()
        os.environ["PATH"] = bed.env["PATH"]   # the docker SDK's ssh:// runs `ssh` from PATH
        replay, plan, stacks = deploy(bed, engine.url, tmp_path_factory.mktemp("stacks"))
        yield bed, replay, plan, stacks
    finally:
        os.environ["PATH"] = path_before
        bed.stop()
