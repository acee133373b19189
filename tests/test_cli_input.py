"""Bad command-line input: exit 2, one clear line, nothing changed (issue #10)."""
import pytest

from tunestack.cli import main


@pytest.mark.parametrize("argv,fragment", [
    (["rollout", "--stack", "local", "--version", "v2", "--env", 'NOTE=say "hi"'], "double quote"),
    (["rollout", "--stack", "local", "--version", "v2", "--env", "NOTE=a\nb"], "control character"),
    (["rollout", "--stack", "local", "--version", "v2", "--env", "1BAD=x"], "KEY=VALUE"),
    (["rollout", "--stack", "local", "--version", "v2", "--bake", "30"], "duration with its unit"),
    (["verify", "--stack", "prod", "--hosts", "ssh://-oProxyCommand=touch /tmp/x", "--collect-only"], "--hosts"),
    (["verify", "--stack", "prod", "--hosts", "ssh://deploy@10.0.0.1 -v", "--collect-only"], "--hosts"),
    (["postgres", "--memory", "16", "--cpus", "4"], "with its unit"),
    # Each parse error names the flag it came from: the parsers are flag-neutral (issue #22).
    (["advise", "--stack", "local", "--since", "15"], "--since '15': a duration with its unit"),
    (["rollout", "--stack", "local", "--version", "v2", "--steps", "10,5,100"], "--steps '10,5,100': weights must rise"),
    (["rollout", "--stack", "local", "--version", "v2", "--notify", "ftp://x"], "--notify 'ftp://x': an http://"),
    # A switchover needs a standby: a stack of one PostgreSQL has none (issue #28).
    (["failover", "--stack", "local"], "postgres.replicas is 0"),
])
def test_bad_flags(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert "--bake" not in err or "--bake" in argv


def test_good_host_specs_collect(capsys):
    assert main(["verify", "--stack", "prod", "--hosts", "ssh://deploy@10.0.0.1:2222,ssh://db.internal",
                 "--collect-only"]) == 0
    assert "tests collected" in capsys.readouterr().out


def test_an_image_no_recipe_builds_is_refused_before_anything(tmp_path, capsys):
    """Issue #11: a tunestack/* tag that images/ does not make cannot be built anywhere: the stack
    file is refused (exit 2, key path, allowed tags, fix) before the program registers anything."""
    from tunestack import stackfile

    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(stackfile.stack_path("dev").read_text().replace("tunestack/redis:7.0", "tunestack/redis:7.2"))
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "tunestack:images → redis" in err and "tunestack/redis:7.2" in err and "tunestack/redis:7.0" in err
    assert "Traceback" not in err


def test_verify_of_a_remote_stack_with_a_host_lacking_addresses(tmp_path, monkeypatch, capsys):
    """Issue #12: a host without addresses beside remote ones cannot be reached: exit 2 naming the
    key path and the fix, before any connection (the addresses are the test bed's own range). Since
    issue #23 the loader refuses the mix for every command."""
    import yaml

    from tunestack import stackfile

    doc = yaml.safe_load(stackfile.stack_path("staging").read_text())
    for i, h in enumerate(doc["config"]["tunestack:hosts"]):
        h["addresses"] = [f"10.231.7.{50 + i * 5 + k}" for k in range(h.get("count", 1))]
    del doc["config"]["tunestack:hosts"][1]["addresses"]
    (tmp_path / "Pulumi.mixed.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("TUNESTACK_STACKS_DIR", str(tmp_path))
    assert main(["verify", "--stack", "mixed", "--target", "docker"]) == 2
    err = capsys.readouterr().err
    # Since issue #23 the stack file itself is refused: a host on this machine beside remote ones.
    assert "config → tunestack:hosts" in err and "give cache its private address" in err and "Traceback" not in err


def test_the_watch_timeout_names_its_own_flag(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNESTACK_STATE_DIR", str(tmp_path))
    assert main(["rollout", "status", "--stack", "local", "--watch", "--timeout", "10"]) == 2
    assert "--timeout '10': a duration with its unit" in capsys.readouterr().err


def test_a_local_rails_stack_with_more_cpus_than_this_machine_is_refused(tmp_path, capsys, monkeypatch):
    """Issue #26, point 12: the plan pins Puma and Sidekiq to CPU lists (taskset); the local stack's
    host is this machine, so CPUs it does not have would keep both from starting. `up` stops first."""
    import os

    import yaml

    from tunestack.paths import ROOT

    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local-rails.yaml").read_text())
    many = len(os.sched_getaffinity(0)) + 2
    doc["config"]["tunestack:hosts"][0]["cpus"] = many
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.toomany.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("TUNESTACK_STACKS_DIR", str(tmp_path / "stacks"))
    monkeypatch.setenv("TUNESTACK_STATE_DIR", str(tmp_path / "state"))
    assert main(["up", "--stack", "toomany"]) == 2
    err = capsys.readouterr().err
    assert f"cpus: {many}" in err and "set cpus to at most" in err and "Traceback" not in err
    assert not (tmp_path / "state" / "toomany" / "etc").exists(), "nothing written"


def test_standbys_from_a_fetched_server_build_are_refused_before_any_engine_is_asked(tmp_path, capsys, monkeypatch):
    """Issue #28: Patroni runs pg_controldata, pg_basebackup and pg_rewind, which the npm server
    builds (`--postgres-source fetched`) lack: exit 2 with the two ways out, no engine contacted
    (DOCKER_HOST names a socket that does not exist)."""
    import yaml

    from tunestack import stackfile

    doc = yaml.safe_load(stackfile.stack_path("staging").read_text())
    doc["config"]["tunestack:hosts"][0].update(count=2, addresses=["10.20.1.10", "10.20.1.11"])
    doc["config"]["tunestack:postgres"]["replicas"] = 1
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert main(["images", "build", "--stack-file", str(path), "--postgres-source", "fetched"]) == 2
    err = capsys.readouterr().err
    assert "pg_rewind" in err and "--postgres-source pgdg" in err and "postgres.version: 15" in err
    assert "no Docker engine" not in err and "Traceback" not in err


def test_failover_on_containers_without_standbys_is_refused_before_any_engine_is_asked(tmp_path, capsys,
                                                                                      monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert main(["failover", "--stack", "staging", "--target", "docker"]) == 2
    err = capsys.readouterr().err
    assert "postgres.replicas is 0" in err and "Traceback" not in err


def test_verify_on_containers_refuses_a_cluster_it_cannot_check_yet(tmp_path, capsys):
    """verify's docker:// checks know one PostgreSQL and one queue container: a stack with standbys
    gets exit 2 and the command that shows its cluster, not failures of containers that are not there."""
    import yaml

    from tunestack import stackfile

    doc = yaml.safe_load(stackfile.stack_path("staging").read_text())
    doc["config"]["tunestack:hosts"][0].update(count=2, addresses=["10.20.1.10", "10.20.1.11"])
    doc["config"]["tunestack:postgres"]["replicas"] = 1
    path = tmp_path / "Pulumi.hastaging.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["verify", "--stack-file", str(path), "--target", "docker"]) == 2
    err = capsys.readouterr().err
    assert "status --stack hastaging --target docker" in err and "Traceback" not in err
