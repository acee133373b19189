"""The reference apps the local stack runs: where their code is, the commands that start them, and
the Go and Node builds (into the state folder, owned by root, rebuilt only when their sources change)."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..paths import ROOT
from ..servers import fetched_cache, which
from .errors import LocalStackError
from .folders import StateFolders

RAILS_APP = ROOT / "refapp" / "rails"
GO_APP = ROOT / "refapp" / "go"
# The Node reference app (refapp/node) takes pg, ioredis and prom-client from npm (package-lock.json).
NODE_APP = ROOT / "refapp" / "node"
NODE_APP_FILES = ("package.json", "package-lock.json", "server.js")
BUILT = ("go", "node")   # the frameworks whose app is built before it runs


def build_reference_app(framework: str, out: Path) -> None:
    """Build refapp/go into `out`/refapp-go, install refapp/node with its locked npm packages into
    `out`, or copy refapp/rails there. One compiler and npm cache serves every stack on the machine (a second stack builds in
    seconds); scripts/setup warms it."""
    cache = Path(fetched_cache("build", "TUNESTACK_BUILD_CACHE"))
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o700)
    if framework == "rails":   # nothing to build: Ruby runs the sources (Debian's gems, no Bundler)
        shutil.copytree(RAILS_APP, out, dirs_exist_ok=True)
        return
    if framework == "go":
        command = [which("go"), "build", "-trimpath", "-o", str(out / "refapp-go"), "."]
        res = subprocess.run(command, cwd=GO_APP, capture_output=True, text=True,
                             env={**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode",
                                  "GOCACHE": str(cache / "go-build"), "GOFLAGS": "", "CGO_ENABLED": "0"})
    else:
        for name in NODE_APP_FILES:
            (out / name).write_bytes((NODE_APP / name).read_bytes())
        command = [which("npm"), "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]
        res = subprocess.run(command, cwd=out, capture_output=True, text=True,
                             env={**os.environ, "npm_config_cache": str(cache / "npm")})
    if res.returncode:
        raise LocalStackError(f"{Path(command[0]).name} {command[1]} failed for refapp/{framework}:\n"
                              f"{(res.stdout + res.stderr)[-3000:]}")


def warm_build_caches() -> None:
    """Build both reference apps once into a throwaway folder: the compiler and npm caches are then
    warm for every `up` (scripts/setup runs this)."""
    for framework in BUILT:
        with tempfile.TemporaryDirectory(prefix="tunestack-warm-") as tmp:
            build_reference_app(framework, Path(tmp))


def app_build_id(framework: str) -> str:
    """A digest of the app's sources: what `build_app` last built is this."""
    sources = sorted(GO_APP.glob("*.go")) if framework == "go" else [NODE_APP / name for name in NODE_APP_FILES]
    digest = hashlib.sha256(framework.encode())
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def app_commands(framework: str, folders: StateFolders) -> tuple[str, str]:
    """The web and jobs commands of the stack's reference app: Puma and Sidekiq for rails
    (refapp/rails), the built binary or server.js for go and node, Gunicorn and the Python worker
    otherwise (refapp/)."""
    etc = folders.etc
    if framework == "rails":
        return (f"{which('puma')} -C {etc}/puma.rb {RAILS_APP}/config.ru",
                f"{which('sidekiq')} -C {etc}/sidekiq.yml -r {RAILS_APP}/app.rb")
    if framework == "go":
        binary = folders.app / "refapp-go"
        return str(binary), f"{binary} jobs"
    if framework == "node":
        node, server = which("node"), folders.app / "server.js"
        return f"{node} {server}", f"{node} {server} jobs"
    venv_bin = Path(sys.executable).parent
    return (f"{venv_bin}/gunicorn -c {etc}/gunicorn.conf.py refapp.app:application",
            f"{venv_bin}/python -m refapp.worker")


def build_app(folders: StateFolders, framework: str, say) -> bool:
    """Build refapp/go or install refapp/node's locked npm packages into app/ (root's: no service
    user may change what runs), unless what is there was built from these sources. Returns
    whether it built. A failed build changes nothing that runs."""
    if framework not in BUILT:
        return False
    build_id = app_build_id(framework)
    stamp = folders.app / "BUILD"
    if stamp.exists() and stamp.read_text() == build_id:
        return False
    folders.app.mkdir(exist_ok=True)
    folders.own(folders.app, 0o755, False)
    with tempfile.TemporaryDirectory(prefix="build-", dir=folders.dir) as tmp:
        say(f"building the {framework} reference app…")
        build_reference_app(framework, Path(tmp))
        for entry in Path(tmp).iterdir():   # replace what runs only once the build succeeded
            target = folders.app / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    stamp.write_text(build_id)
    for path in [folders.app, *folders.app.rglob("*")]:   # root's, readable, written by no one else
        if os.geteuid() == 0:
            os.lchown(path, 0, 0)
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
    return True
