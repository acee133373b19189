"""One list of Debian packages (tunestack/local/packages.py): scripts/setup installs it, `up`
installs its stack's share, and the README names the same packages."""
import re
import subprocess
import sys

from tunestack.local.packages import (GO_PACKAGES, NODE_BINARIES, RAILS_BINARIES, RAILS_LIBRARIES, SERVERS,
                                      setup_packages)
from tunestack.paths import ROOT


def test_setup_reads_the_list_from_the_module():
    setup = (ROOT / "scripts" / "setup").read_text()
    assert "python3 tunestack/local/packages.py setup" in setup
    res = subprocess.run([sys.executable, "tunestack/local/packages.py", "setup"], cwd=ROOT, capture_output=True,
                         text=True)
    assert res.returncode == 0 and res.stdout.split() == setup_packages()


def test_every_package_up_installs_is_one_setup_installs():
    up = [*SERVERS.values(), *RAILS_BINARIES.values(), *RAILS_LIBRARIES, *GO_PACKAGES]
    assert set(up) <= set(setup_packages())
    assert set(NODE_BINARIES.values()) == {"nodejs", "npm"}   # only where the machine has no Node (README)


def test_the_readme_names_every_package_setup_installs():
    readme = (ROOT / "README.md").read_text()
    paragraph = readme.split("`scripts/setup` installs", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(re.findall(r"`([^`]+)`", paragraph))))
    missing = [p for p in setup_packages() if p not in named]
    assert not missing
