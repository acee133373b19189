"""A private Docker engine for the tests: its own data root, exec root, pidfile and socket, no
iptables rules and no default bridge on the machine. Stopped by its PID, its folders removed."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tunestack.poll import wait_until


def staging_pg_major() -> int:
    """The PostgreSQL major stacks/Pulumi.staging.yaml names (the multihost tests deploy its shape)."""
    from tunestack import stackfile

    return stackfile.load(stackfile.stack_path("staging"), name="staging").postgres.version


def images_to_build() -> list:
    """What the tests build on a private engine at the start: the default set but the Go and Node
    app images (tests/docker/test_app_images.py builds those it deploys), and staging's PostgreSQL
    major from the server build scripts/fetch-postgres keeps (no apt.postgresql.org or registry here)."""
    from tunestack import images
    from tunestack.recipes import APP_IMAGES

    later = set(APP_IMAGES.values()) - {APP_IMAGES["python"]}
    return [*(r for r in images.RECIPES if r.tag not in later), images.postgres_recipe(staging_pg_major(), "fetched")]


class Engine:
    def __init__(self, storage_driver: str = "overlay2"):
        self.dir = Path(tempfile.mkdtemp(prefix="tunestack-dockerd-"))
        self.socket = self.dir / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.driver = storage_driver
        self.proc: subprocess.Popen | None = None

    def start(self):
        import docker

        binary = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not os.path.exists(binary):
            raise RuntimeError("dockerd not found: scripts/setup installs docker.io")
        self.log = open(self.dir / "dockerd.log", "w")
        self.proc = subprocess.Popen([binary, "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
                                      "--pidfile", str(self.dir / "dockerd.pid"), "-H", self.url,
                                      "--storage-driver", self.driver, "--iptables=false", "--bridge=none",
                                      # Networks from a range of their own: never one the machine uses.
                                      "--default-address-pool", "base=10.232.0.0/16,size=24"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and self.socket.exists(), 60, "the private dockerd's socket")
        self.client = docker.DockerClient(base_url=self.url, timeout=300)
        wait_until(self.client.ping, 60, "the private dockerd")
        return self

    @classmethod
    def attach(cls, url: str) -> "Engine":
        """An engine already running at `url` (unix://…), which the tests use and never stop."""
        import docker

        e = cls.__new__(cls)
        e.url, e.proc, e.dir = url, None, None
        e.client = docker.DockerClient(base_url=url, timeout=300)
        e.client.ping()
        return e

    def connect(self, url: str):
        """For the replay: every provider of a one-host stack (the local socket) is this engine."""
        return self.client, self.url

    def read(self, container: str, path: str) -> str:
        """A file inside a running container (e.g. a secret the test needs to log in with)."""
        res = self.client.containers.get(container).exec_run(["cat", path])
        assert res.exit_code == 0, res.output.decode()
        return res.output.decode()

    def psql(self, sql: str, db: str = "app", container: str = "dev-postgres") -> str:
        """SQL as the superuser over the container's own socket (peer: the OS user postgres)."""
        res = self.client.containers.get(container).exec_run(["psql", "-U", "postgres", "-d", db, "-AtX", "-c", sql],
                                                             user="postgres")
        assert res.exit_code == 0, res.output.decode()
        return res.output.decode().strip()

    def derived_image(self, base: str, tag: str, files: dict[str, str]) -> str:
        """`base` plus `files` (path in the image → content): a new app version, e.g. with one more
        migration. Returns `tag`."""
        import io
        import tarfile

        lines = [f"FROM {base}"] + [f"COPY f{i} {path}" for i, path in enumerate(files)]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            entries = [("Dockerfile", "\n".join(lines) + "\n")] + [(f"f{i}", c) for i, c in enumerate(files.values())]
            for name, text in entries:
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        self.client.images.build(fileobj=buffer, custom_context=True, tag=tag, rm=True)
        return tag

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                for c in self.client.containers.list(all=True):
                    c.remove(force=True)
                # dockerd leaves a network's bridge in the machine's namespace when it stops.
                self.client.networks.prune()
            finally:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        # dockerd leaves its netns bind mount (and, after a crash, overlay mounts) behind.
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.dir))]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
