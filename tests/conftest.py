import os
from pathlib import Path

# Never let boto3 reach the instance-metadata address or AWS from a test.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
    os.environ.pop(key, None)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import shutil
import tempfile

import pytest
from hypothesis import settings

# No example database in the checkout: the suite must leave `git status` clean.
settings.register_profile("tunestack", database=None)
settings.load_profile("tunestack")


@pytest.fixture(scope="session")
def engine():
    """A private Docker engine with the project's images, built once per run (docker, multihost)."""
    from tests.docker.engine import Engine, images_to_build
    from tunestack import images

    if os.environ.get("TUNESTACK_TEST_ENGINE"):   # an engine of the developer's, kept up between runs
        e = Engine.attach(os.environ["TUNESTACK_TEST_ENGINE"])
        images.build(e.client, say=lambda m: print(m, flush=True), recipes=images_to_build())
        yield e
        return
    if os.geteuid() != 0:
        pytest.skip("a private dockerd needs root")
    e = Engine()
    try:
        e.start()
        images.build(e.client, say=lambda m: print(m, flush=True), recipes=images_to_build())
        yield e
    finally:
        e.stop()


@pytest.fixture
def server_dir():
    """A work folder the unprivileged server user can reach (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="tunestack-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- the suite leaves the checkout as it found it ----------------------------------------------------
def _tree_status() -> set[str]:
    import subprocess

    from tunestack.paths import ROOT

    res = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True)
    return set(res.stdout.splitlines()) if res.returncode == 0 else set()


def pytest_configure(config):
    """SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C: fixtures still tear down what they
    started (engines, namespaces, servers)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def pytest_sessionstart(session):
    session.config._tree_before = _tree_status()


def pytest_sessionfinish(session, exitstatus):
    """A test, a server or a command that writes into the checkout fails the run (issue #9)."""
    before = getattr(session.config, "_tree_before", None)
    if before is None:
        return
    new = sorted(_tree_status() - before)
    if new:
        print("\nthe test run changed the checkout:\n  " + "\n  ".join(new))
        session.exitstatus = 1
