"""Replays what the Pulumi program declared (recorded under Pulumi's mocks) on a real Docker engine.

It stands in for the engine and its providers in tests only, so that a defect in components/ fails
a real test: networks, volumes, then each container with its image, command, environment, uploads,
labels, limits, /dev/shm, ulimits, sysctls, read-only host mounts, PID namespace, healthcheck, network
aliases and published ports, turning healthy
before anything that depends on it starts (the provider's `wait`), and each `command.local.Command`
run as pulumi-command runs it (`/bin/sh -c CREATE` with its stdin and environment; DOCKER_HOST
pointed at this engine, as the stack's provider would be).

`update(new_run)` is what `pulumi up` does with a changed program, as far as these resources go:
a container whose inputs changed is replaced (delete first when the component asks for it,
otherwise the new one first and the old one deleted at the end, after every other step); a container
or command the new program no longer declares is deleted at the end too; a command
whose inputs changed, or whose container was replaced (its trigger), runs again; a step starts as
soon as the changed resources it depends on are done, so steps with no dependency between them run
at the same time, as the engine runs them (a child also waits for what its parent component
depends on: the engine registers it only once the parent's URN resolves). It is not a deploy tool."""
from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from components.mockrun import SECRET_SIG, ProgramRun, Registration
from tunestack.poll import poll

CONTAINER = "docker:index/container:Container"
COMMAND = "command:local:Command"
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


def image_refs(run: ProgramRun) -> dict[str, str]:
    """Mock image id → an image reference with that id (tests/docker stacks pin no aliases)."""
    from components.mockrun import mock_image_id

    # A registry tag pinned to the mocks' digest (StackImages.pinned): this engine has it under its tag.
    return {mock_image_id(plain(r.inputs)["name"]): plain(r.inputs)["name"].split("@sha256:")[0]
            for r in run.of_type("docker:index/remoteImage:RemoteImage")}


class CommandFailed(AssertionError):
    pass


class Replay:
    """`connect(url)` → (Docker SDK client, DOCKER_HOST for the docker CLI) for a provider's `host`
    as the program declared it: the test's own engine for the local socket, or a test host's
    engine over SSH. `env`: the environment commands run in (e.g. PATH to the test bed's ssh)."""

    def __init__(self, run: ProgramRun, connect, say=print, env: dict[str, str] | None = None):
        self.run, self.connect, self.say, self.env = run, connect, say, env or dict(os.environ)
        self.images = image_refs(run)
        self.steps: list[str] = []   # what was done, in order: "create X", "delete X", "run X"
        self.engines: dict[str, tuple] = {}      # provider host URL → (client, CLI DOCKER_HOST)
        self.where: dict[str, object] = {}       # container name → the client of its engine

    def engine(self, url: str) -> tuple:
        if url not in self.engines:
            self.engines[url] = self.connect(url)
        return self.engines[url]

    def client_of(self, r: Registration, run: ProgramRun | None = None):
        """The engine a resource lands on: its provider's `host`."""
        hosts = {p.name: plain(p.inputs)["host"] for p in (run or self.run).of_type("pulumi:providers:docker")}
        return self.engine(hosts[r.provider_name])[0]

    def image_of(self, r: Registration) -> str:
        """The image reference a container runs: its `image` input is a RemoteImage's id (the mocks'
        follows the image's content: any reference with that id names the same image)."""
        return self.images[plain(r.inputs)["image"]]

    def missing_images(self) -> list[str]:
        import docker

        out = []
        for r in self.run.of_type("docker:index/remoteImage:RemoteImage"):
            try:
                self.client_of(r).images.get(plain(r.inputs)["name"].split("@sha256:")[0])
            except docker.errors.ImageNotFound:
                out.append(f"{plain(r.inputs)['name']} on {r.provider_name}")
        return sorted(out)

    def apply(self) -> None:
        """The first `pulumi up`: every resource new, each as soon as what it waits for is done,
        the independent ones at the same time (three etcd members only turn healthy together)."""
        run, self.run = self.run, ProgramRun(self.run.stack)
        self._update(run)

    def storage(self, run: ProgramRun) -> None:
        """Networks and volumes (created once; a volume outlives its containers)."""
        for r in run.of_type("docker:index/network:Network"):
            name, client = plain(r.inputs)["name"], self.client_of(r, run)
            if not client.networks.list(names=[name]):
                client.networks.create(name, driver=plain(r.inputs).get("driver", "bridge"))
        for r in run.of_type("docker:index/volume:Volume"):
            self.client_of(r, run).volumes.create(plain(r.inputs)["name"])

    def command(self, r: Registration, phase: str = "create") -> str:
        """Run a local.Command's `create` (or `delete`) as pulumi-command does; its stdout, or CommandFailed."""
        i = self.spec(r)
        declared = (i.get("environment") or {}).get("DOCKER_HOST", "")
        # An image id the mocks made stands for the image they named: the real engine has that image
        # under its reference (a real `pulumi up` passes the real id, which the engine also knows).
        given = {k: self.images.get(v, v) for k, v in (i.get("environment") or {}).items()}
        env = {**self.env, **given, "DOCKER_HOST": self.engine(declared)[1]}
        res = subprocess.run(["/bin/sh", "-c", i[phase]], input=i.get("stdin", "") if phase == "create" else "",
                             capture_output=True, text=True, env=env, timeout=300)
        self.steps.append(f"run {r.name}" if phase == "create" else f"run {r.name} ({phase})")
        if res.returncode:
            # what pulumi-command reports: both streams (pgBackRest, for one, logs its errors to stdout)
            raise CommandFailed(f"{r.name}: exit {res.returncode}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
        self.say(f"  {r.name}: {res.stdout.strip()}")
        return res.stdout

    def update(self, new: ProgramRun) -> None:
        """Apply a changed program the way `pulumi up` would (see the module docstring). When a
        step fails before any container was created or deleted (a guard command), the state is
        the old program's, as Pulumi's would be."""
        before, mark = self.run, len(self.steps)
        try:
            self._update(new)
        except BaseException:
            if not any(s.startswith(("create ", "delete ")) for s in self.steps[mark:]):
                self.run = before
            raise

    def _update(self, new: ProgramRun) -> None:
        old = {r.name: r for r in self.run.registrations}
        self.run = new   # resources resolve their engine in the new program
        self.images.update(image_refs(new))
        self.storage(new)
        by_urn = {r.urn: r for r in new.registrations}
        replaced = replaced_names(new, old)
        changed = [r for r in new.registrations if r.type in (CONTAINER, COMMAND)
                   and (r.name not in old or plain(old[r.name].inputs) != plain(r.inputs)
                        or (r.type == COMMAND and any(by_urn[d].name in replaced
                                                      for d in r.dependencies if d in by_urn)))]
        later: list[tuple[str, int]] = []   # (old name, stop timeout): deleted after everything else
        deleted: dict[str, Future] = {}     # dependents deleted ahead of a replacement, once each
        deleting = threading.Lock()

        def delete_first(dependent: Registration) -> None:
            """A dependent goes once, before any of its bases: a second base waits for it."""
            with deleting:
                mine = dependent.name not in deleted
                if mine:
                    deleted[dependent.name] = Future()
            if not mine:
                deleted[dependent.name].result()
                return
            try:
                self.command(dependent, "delete")
            except Exception as exc:
                deleted[dependent.name].set_exception(exc)
                raise
            deleted[dependent.name].set_result(None)

        def step(r: Registration) -> None:
            if r.type == COMMAND:
                self.command(r)
                return
            previous = old.get(r.name)
            if previous is None:
                self.container(r)
            elif r.delete_before_replace:
                # Pulumi deletes the dependents that this replacement also replaces (their inputs
                # name it, e.g. a trigger on its id) before it deletes the resource itself.
                for dependent in old.values():
                    if dependent.type == COMMAND and previous.urn in dependent.dependencies \
                            and plain(dependent.inputs).get("delete"):
                        delete_first(dependent)
                self.remove(plain(previous.inputs))
                self.container(r)
            else:
                self.container(r)
                later.append((plain(previous.inputs)["name"], int(plain(previous.inputs).get("stopTimeout") or 10)))

        names = {r.urn for r in changed}
        with ThreadPoolExecutor(max_workers=max(1, len(changed))) as pool:
            futures = {}
            for r in changed:   # registrations come in dependency order: dependencies first
                # as the engine orders them: a resource's own dependencies and its ancestors'
                waits = [futures[d] for d in new.waits_for(r) if d in names and d in futures]
                futures[r.urn] = pool.submit(lambda r=r, waits=waits: ([w.result() for w in waits], step(r)))
            for f in futures.values():
                f.result()
        for name, timeout in later:
            self.remove({"name": name, "stopTimeout": timeout})
        # Resources the new program no longer declares go last too, dependents before their bases
        # (the engine deletes in reverse dependency order; registrations came dependencies first).
        declared = {r.name for r in new.registrations}
        for r in reversed(list(old.values())):
            if r.name in declared:
                continue
            if r.type == CONTAINER:
                self.remove(plain(r.inputs))
            elif r.type == COMMAND and plain(r.inputs).get("delete"):
                self.command(r, "delete")

    def remove(self, inputs: dict) -> None:
        """Graceful: a stop within the container's declared stop timeout, then removal."""
        container = self.where[inputs["name"]].containers.get(inputs["name"])
        container.stop(timeout=int(inputs.get("stopTimeout") or 10))
        container.remove()
        self.steps.append(f"delete {inputs['name']}")

    def spec(self, r: Registration) -> dict:
        return plain(r.inputs)

    def container(self, r: Registration, timeout: float = 180) -> None:
        i = self.spec(r)
        client = self.client_of(r)
        self.where[i["name"]] = client
        api = client.api
        networks = i.get("networksAdvanced", [])
        ports = {int(p["internal"]): (p["ip"], int(p["external"])) for p in i.get("ports", [])}
        health = i["healthcheck"]
        host_config = api.create_host_config(
            mem_limit=f"{int(i['memory'])}m", memswap_limit=f"{int(i['memorySwap'])}m",
            nano_cpus=int(float(i["cpus"]) * 1e9),
            shm_size=f"{int(i['shmSize'])}m" if i.get("shmSize") else None,
            restart_policy={"Name": i.get("restart", "no")},
            ulimits=[{"Name": u["name"], "Soft": int(u["soft"]), "Hard": int(u["hard"])} for u in i.get("ulimits", [])],
            binds={v.get("volumeName") or v["hostPath"]: {"bind": v["containerPath"], "mode": "ro" if v.get("readOnly")
                                                          else "rw"} for v in i.get("volumes", [])},
            pid_mode=i.get("pidMode"),
            sysctls=i.get("sysctls") or None,
            extra_hosts={h["host"]: h["ip"] for h in i.get("hosts", [])} or None,
            port_bindings=ports or None, network_mode=networks[0]["name"] if networks else "none")
        endpoint = {n["name"]: api.create_endpoint_config(aliases=n.get("aliases")) for n in networks}
        labels = {lab["label"]: lab["value"] for lab in i.get("labels", [])}
        created = api.create_container(
            labels=labels or None,
            image=self.image_of(r), name=i["name"], command=i.get("command"), entrypoint=i.get("entrypoints"),
            environment=i.get("envs"), host_config=host_config, ports=list(ports) or None,
            stop_timeout=int(i["stopTimeout"]) if i.get("stopTimeout") else None,
            stop_signal=i.get("stopSignal"),
            healthcheck={"test": health["tests"], "interval": nanoseconds(health["interval"]),
                         "timeout": nanoseconds(health["timeout"]), "retries": int(health["retries"]),
                         "start_period": nanoseconds(health["startPeriod"])},
            networking_config=api.create_networking_config(endpoint) if endpoint else None)
        uploads = {u["file"]: u["content"] for u in i.get("uploads", [])}
        if uploads:
            api.put_archive(created["Id"], "/", tar_of(uploads))
        api.start(created["Id"])
        self.steps.append(f"create {i['name']}")
        self.say(f"  {i['name']}: started, waiting for health …")
        if not poll(lambda: self.health(i["name"]) in ("healthy", "exited"), timeout, 0.5) \
                or self.health(i["name"]) != "healthy":
            logs = client.containers.get(i["name"]).logs(tail=30).decode(errors="replace")
            raise AssertionError(f"{i['name']} did not turn healthy ({self.health(i['name'])}):\n{logs}")

    def health(self, name: str) -> str:
        state = self.where[name].api.inspect_container(name)["State"]
        if state["Status"] == "exited":
            return "exited"
        return state.get("Health", {}).get("Status", state["Status"])


def replaced_names(new: ProgramRun, old: dict[str, Registration]) -> set[str]:
    """Containers whose inputs changed: a command that depends on one (its trigger is the
    container's id) runs again."""
    return {r.name for r in new.of_type(CONTAINER) if r.name in old and plain(old[r.name].inputs) != plain(r.inputs)}


class ReplayStack:
    """Stands in for pulumi.automation.Stack: config keys edit the stack file (`path` keys as Pulumi
    nests them), `up` runs the program under the mocks and the replay applies the difference on the
    real engines. `extra`: config the stack holds besides the file (secrets, as `pulumi config set
    --secret` keeps them)."""

    def __init__(self, replay: Replay, path, stack: str, extra: dict | None = None):
        self.replay, self.path, self.stack, self.extra = replay, path, stack, extra
        self.ups: list[str] = []

    def _config(self):
        import yaml
        return yaml.safe_load(self.path.read_text())

    def _write(self, doc) -> None:
        import yaml
        self.path.write_text(yaml.safe_dump(doc))

    def set_config(self, key, value, *, path=False):
        doc = self._config()
        if path:
            top, _, leaf = key.partition(".")
            doc["config"].setdefault(top, {})[leaf] = value.value
        else:
            doc["config"][key] = value.value
        self._write(doc)

    def remove_config(self, key, *, path=False):
        doc = self._config()
        doc["config"].pop(key, None)
        self._write(doc)

    def up(self, message="", on_output=print):
        from components.mockrun import run_program
        self.ups.append(message)
        self.replay.update(run_program(self.stack, stack_file=self.path, extra_config=self.extra))
