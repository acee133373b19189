"""Replays what the Pulumi program declared (recorded under Pulumi's mocks) on a real Docker engine.

It stands in for the provider in tests only, so that a defect in components/ fails a real test:
networks, volumes, then each container in declaration order with its image, command, environment,
uploads, limits, /dev/shm, ulimits, healthcheck, network aliases and published ports; each must turn
healthy before the next starts, as the provider does with `wait`. It is not a deploy tool."""
from __future__ import annotations

import io
import re
import tarfile

from components.mockrun import SECRET_SIG, ProgramRun, Registration
from tunestack.poll import poll

CONTAINER = "docker:index/container:Container"
DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def plain(value):
    """Inputs as the provider would see them: secrets unwrapped."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def nanoseconds(text: str) -> int:
    m = DURATION.match(text)
    return int(m.group(1)) * NS[m.group(2)]


def tar_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Replay:
    def __init__(self, client, run: ProgramRun, say=print):
        self.client, self.run, self.say = client, run, say
        self.images = {r.name: plain(r.inputs)["name"] for r in run.of_type("docker:index/remoteImage:RemoteImage")}

    def missing_images(self) -> list[str]:
        import docker

        out = []
        for name in sorted(set(self.images.values())):
            try:
                self.client.images.get(name)
            except docker.errors.ImageNotFound:
                out.append(name)
        return out

    def apply(self) -> None:
        for r in self.run.of_type("docker:index/network:Network"):
            name = plain(r.inputs)["name"]
            if not self.client.networks.list(names=[name]):
                self.client.networks.create(name, driver=plain(r.inputs).get("driver", "bridge"))
        for r in self.run.of_type("docker:index/volume:Volume"):
            self.client.volumes.create(plain(r.inputs)["name"])
        for r in self.run.of_type(CONTAINER):
            self.container(r)

    def spec(self, r: Registration) -> dict:
        return plain(r.inputs)

    def container(self, r: Registration, timeout: float = 180) -> None:
        i = self.spec(r)
        api = self.client.api
        networks = i.get("networksAdvanced", [])
        ports = {int(p["internal"]): (p["ip"], int(p["external"])) for p in i.get("ports", [])}
        health = i["healthcheck"]
        host_config = api.create_host_config(
            mem_limit=f"{int(i['memory'])}m", memswap_limit=f"{int(i['memorySwap'])}m",
            nano_cpus=int(float(i["cpus"]) * 1e9),
            shm_size=f"{int(i['shmSize'])}m" if i.get("shmSize") else None,
            restart_policy={"Name": i.get("restart", "no")},
            ulimits=[{"Name": u["name"], "Soft": int(u["soft"]), "Hard": int(u["hard"])} for u in i.get("ulimits", [])],
            binds={v["volumeName"]: {"bind": v["containerPath"], "mode": "rw"} for v in i.get("volumes", [])},
            port_bindings=ports or None, network_mode=networks[0]["name"] if networks else "none")
        endpoint = {n["name"]: api.create_endpoint_config(aliases=n.get("aliases")) for n in networks}
        created = api.create_container(
            image=self.images[f"{r.name}-image"], name=i["name"], command=i.get("command"),
            environment=i.get("envs"), host_config=host_config, ports=list(ports) or None,
            stop_timeout=int(i["stopTimeout"]) if i.get("stopTimeout") else None,
            healthcheck={"test": health["tests"], "interval": nanoseconds(health["interval"]),
                         "timeout": nanoseconds(health["timeout"]), "retries": int(health["retries"]),
                         "start_period": nanoseconds(health["startPeriod"])},
            networking_config=api.create_networking_config(endpoint) if endpoint else None)
        uploads = {u["file"]: u["content"] for u in i.get("uploads", [])}
        if uploads:
            api.put_archive(created["Id"], "/", tar_of(uploads))
        api.start(created["Id"])
        self.say(f"  {i['name']}: started, waiting for health …")
        if not poll(lambda: self.health(i["name"]) in ("healthy", "exited"), timeout, 0.5) \
                or self.health(i["name"]) != "healthy":
            logs = self.client.containers.get(i["name"]).logs(tail=30).decode(errors="replace")
            raise AssertionError(f"{i['name']} did not turn healthy ({self.health(i['name'])}):\n{logs}")

    def health(self, name: str) -> str:
        state = self.client.api.inspect_container(name)["State"]
        if state["Status"] == "exited":
            return "exited"
        return state.get("Health", {}).get("Status", state["Status"])

    def replace(self, r: Registration) -> None:
        """What the provider does when an input that forces replacement changes (delete first:
        fixed names and ports): a graceful stop within the declared stop timeout, then a new one."""
        i = self.spec(r)
        old = self.client.containers.get(i["name"])
        old.stop(timeout=int(i.get("stopTimeout") or 10))
        old.remove()
        self.container(r)
