"""A test bed of hosts on one machine (issue #12): one network namespace per host on a bridge the
bed makes, each with its own sshd and its own Docker engine, reached over SSH like a real host.

Addresses come from 10.231.N.0/24 (N = 7 for the tests, 8 for the benchmark, so both can run at
once), a range only this bed creates; the bridge is 10.231.N.1. The
bed's own SSH client key, known_hosts and ssh_config live in its folder, and `ssh` on the PATH it
hands out (`env`) always reads that config, so neither root's ~/.ssh nor any other host is
touched. Daemons are stopped by their PIDs, mounts unmounted, namespaces and links deleted, even
when a test fails."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tunestack.poll import wait_until
from tunestack.servers import port_open

SUBNETS = {7: "the tests", 8: "bench/rollout_docker.py", 9: "the HA tests (tests/multihost/ha.py)"}


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(list(args), capture_output=True, text=True)
    if check and res.returncode:
        raise RuntimeError(f"{' '.join(args)}: {res.stderr.strip()}")
    return res


@dataclass
class Host:
    name: str
    address: str
    dir: Path
    sshd: subprocess.Popen | None = None
    dockerd: subprocess.Popen | None = None

    tag: str = "7"

    @property
    def netns(self) -> str:
        return f"ts{self.tag}-{self.name}"

    @property
    def socket(self) -> str:
        return f"unix://{self.dir}/docker.sock"

    @property
    def url(self) -> str:
        """How the stack reaches this host's engine: over SSH, as the Pulumi provider does."""
        return f"ssh://root@{self.address}"


class Bed:
    def __init__(self, names=("db", "cache", "app1", "app2"), subnet: int = 7):
        assert subnet in SUBNETS
        self.prefix, self.bridge = f"10.231.{subnet}", f"tsbed{subnet}"
        self.dir = Path(tempfile.mkdtemp(prefix="tunestack-bed-"))
        self.hosts = {n: Host(n, f"{self.prefix}.{11 + i}", self.dir / n, tag=str(subnet))
                      for i, n in enumerate(names)}
        self.ssh_config = self.dir / "ssh_config"
        self.bin = self.dir / "bin"
        self.logs: list = []

    # --- what callers use ----------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The environment for anything that runs `ssh` (docker CLI, docker SDK, testinfra)."""
        return {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}"}

    def client(self, host: Host, over_ssh: bool = False):
        """The host's Docker engine: its socket (for setup), or over SSH as the stack reaches it."""
        import docker

        if over_ssh:
            return docker.DockerClient(base_url=host.url, use_ssh_client=True, timeout=300)
        return docker.DockerClient(base_url=host.socket, timeout=300)

    def _engine_up(self, host: Host) -> bool:
        try:
            return self.client(host).ping()
        except Exception:  # not listening yet
            return False

    # --- up ------------------------------------------------------------------------------------
    def start(self) -> "Bed":
        self._ssh_client()
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.prefix}.1/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for host in self.hosts.values():
            self._network(host)
            self._sshd(host)
            self._dockerd(host)
        for host in self.hosts.values():
            wait_until(lambda h=host: port_open(22, h.address), 30, f"sshd on {host.address}")
            wait_until(lambda h=host: self._engine_up(h), 60, f"dockerd of {host.name}")
        return self

    def _ssh_client(self) -> None:
        self.bin.mkdir(parents=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.dir / "id"))
        self.ssh_config.write_text(
            f"Host {self.prefix}.*\n  User root\n  IdentityFile {self.dir}/id\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.dir}/known_hosts\n  StrictHostKeyChecking accept-new\n"
            "  BatchMode yes\n  ConnectTimeout 5\n"
            # One connection per host, reused by every docker exec and check (what a real ssh config
            # for verify and rollouts should say too).
            f"  ControlMaster auto\n  ControlPath {self.dir}/cm-%C\n  ControlPersist 300\n"
            "Host *\n  BatchMode yes\n")
        wrapper = self.bin / "ssh"
        wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {self.ssh_config} \"$@\"\n")
        wrapper.chmod(0o755)

    def _network(self, host: Host) -> None:
        host.dir.mkdir(parents=True)
        outside, inside = f"{host.netns}-o"[:15], f"{host.netns}-i"[:15]
        sh("ip", "netns", "add", host.netns)
        sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        sh("ip", "link", "set", inside, "netns", host.netns)
        sh("ip", "link", "set", outside, "master", self.bridge, "up")
        sh("ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", inside)
        sh("ip", "-n", host.netns, "link", "set", inside, "up")
        sh("ip", "-n", host.netns, "link", "set", "lo", "up")

    def _in_netns(self, host: Host, *cmd: str, log: str) -> subprocess.Popen:
        out = open(host.dir / log, "w")
        self.logs.append(out)
        return subprocess.Popen(["nsenter", f"--net=/var/run/netns/{host.netns}", *cmd],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _sshd(self, host: Host) -> None:
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host.dir / "host_key"))
        shutil.copy(self.dir / "id.pub", host.dir / "authorized_keys")
        config = host.dir / "sshd_config"
        config.write_text(
            f"ListenAddress {host.address}:22\nHostKey {host.dir}/host_key\nPidFile {host.dir}/sshd.pid\n"
            f"AuthorizedKeysFile {host.dir}/authorized_keys\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            # The host's own engine for whoever logs in: `docker system dial-stdio` over SSH finds it.
            f"SetEnv DOCKER_HOST={host.socket}\n")
        os.makedirs("/run/sshd", exist_ok=True)   # sshd's privilege-separation directory
        host.sshd = self._in_netns(host, "/usr/sbin/sshd", "-D", "-e", "-f", str(config), log="sshd.log")

    def _dockerd(self, host: Host) -> None:
        binary = shutil.which("dockerd") or "/usr/sbin/dockerd"
        # iptables on: rules live in the host's own namespace (published ports, the private
        # network's NAT to other hosts); no default bridge.
        host.dockerd = self._in_netns(
            host, binary, "--data-root", str(host.dir / "data"), "--exec-root", str(host.dir / "exec"),
            "--pidfile", str(host.dir / "dockerd.pid"), "-H", host.socket, "--storage-driver", "overlay2",
            "--bridge=none", log="dockerd.log")

    def load_images(self, source_url: str, tags_by_host: dict[str, list[str]]) -> None:
        """Copy images from the engine that built them: one `docker save | docker load` per host,
        so the layers the images share travel once."""
        for name, tags in tags_by_host.items():
            save = subprocess.Popen(["docker", "-H", source_url, "save", *tags], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            load = subprocess.run(["docker", "-H", self.hosts[name].socket, "load", "-q"], stdin=save.stdout,
                                  capture_output=True, text=True)
            save.stdout.close()
            saved = save.wait()
            if saved or load.returncode:   # the save's own words first: a failed save reads as a bad tar
                raise RuntimeError(f"copying {tags} to {name}: save: {save.stderr.read().decode().strip()[-500:]}; "
                                   f"load: {load.stderr.strip()}")

    # --- down ----------------------------------------------------------------------------------
    def stop(self) -> None:
        for host in self.hosts.values():   # the shared SSH connections (ControlMaster) end first
            subprocess.run(["ssh", "-O", "exit", host.address], env=self.env, capture_output=True, timeout=30)
        for host in self.hosts.values():
            if host.dockerd and host.dockerd.poll() is None:
                try:
                    for c in self.client(host).containers.list(all=True):
                        c.remove(force=True, v=True)
                except Exception:  # a dockerd that never came up has nothing to remove
                    pass
            for proc in (host.dockerd, host.sshd):
                if proc and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            sh("ip", "netns", "del", host.netns, check=False)
            sh("ip", "link", "del", f"{host.netns}-o"[:15], check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.dir))]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        for f in self.logs:
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)
