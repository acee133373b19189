"""Bad input, one file per case: exit 2, one clear error (file, key path, value, allowed, fix), no
traceback, nothing planned or printed. The cases of issue #10 first, then more of our own.

Runs `tunestack plan --stack-file` in-process: the same `main()` the console script calls."""
import copy
import math

import pytest
import yaml

from tunestack.cli import main
from tunestack.paths import ROOT

BASE = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
H, PG, B, R, A, T, RO = ("tunestack:hosts", "tunestack:postgres", "tunestack:pgbouncer", "tunestack:redis",
                         "tunestack:app", "tunestack:traffic", "tunestack:rollout")


def doc_with(path, value):
    doc = copy.deepcopy(BASE)
    node = doc["config"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return yaml.safe_dump(doc, allow_unicode=True)


def go_doc(go):
    doc = yaml.safe_load(doc_with([A, "framework"], "go"))
    doc["config"][A]["go"] = go
    return yaml.safe_dump(doc)


def node_doc(node):
    doc = yaml.safe_load(doc_with([A, "framework"], "node"))
    doc["config"][A]["node"] = node
    return yaml.safe_dump(doc)


def without_line(text, line):
    assert line in text, line
    return text.replace(line, "")


def doc_without(path):
    doc = copy.deepcopy(BASE)
    node = doc["config"]
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return yaml.safe_dump(doc)


def raw(old, new):
    """Edit the stack file's own text, for what a YAML dump cannot write (duplicates, aliases)."""
    text = (ROOT / "stacks" / "Pulumi.local.yaml").read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def alias_bomb():
    lines = ["a0: &a0 [/x, /x, /x, /x, /x, /x, /x, /x, /x, /x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 9)]
    return "\n".join(lines) + "\n" + raw("    peak_rps: 20", "    peak_rps: 20\n    health_paths: *a8")


CASES = [
    # --- issue #10: injection through values ---------------------------------------------------------
    ("path-newline", doc_with([T, "sampling_rules"], [{"path": "/x\nDATABASE_URL=postgres://evil", "rate": 1.0}]),
     ["sampling_rules[0] → path", "URL path"]),
    ("health-path-newline", doc_with([T, "health_paths"], ["/health\n    stats enable"]), ["health_paths[0]", "URL path"]),
    ("health-path-space", doc_with([T, "health_paths"], ["/health x"]), ["health_paths[0]", "URL path"]),
    ("address-injection", doc_with([H, 0, "addresses"], ["127.0.0.1\n[pgbouncer]\nauth_type = trust"]),
     ["addresses[0]", "IP address or a host name"]),
    ("address-ssh-option", doc_with([H, 0, "addresses"], ["-oProxyCommand=touch /tmp/x"]),
     ["addresses[0]", "-oProxyCommand", "IP address or a host name"]),
    ("address-with-space", doc_with([H, 0, "addresses"], ["10.0.0.1 10.0.0.2"]), ["addresses[0]", "host name"]),
    ("ssh-user-option", doc_with([H, 0, "ssh_user"], "-oProxyCommand=x"), ["ssh_user", "Unix user name"]),
    ("override-newline", doc_with([PG, "overrides"], {"work_mem": "64MB\nlog_statement = 'all'"}),
     ["overrides → work_mem", "one line"]),
    ("override-port", doc_with([PG, "overrides"], {"port": 16432}), ["overrides → port", "postgres.port"]),
    ("override-listen", doc_with([PG, "overrides"], {"listen_addresses": "*"}), ["overrides → listen_addresses"]),
    ("override-preload", doc_with([PG, "overrides"], {"shared_preload_libraries": "evil"}),
     ["overrides → shared_preload_libraries"]),
    ("override-hba-file", doc_with([PG, "overrides"], {"hba_file": "/tmp/hba"}), ["overrides → hba_file"]),
    ("image-with-space", doc_with(["tunestack:images", "app"], "refapp:1 --privileged"), ["images → app", "image reference"]),
    ("image-uppercase", doc_with(["tunestack:images", "app"], "Refapp:1"), ["images → app"]),
    # --- issue #10: crashes ------------------------------------------------------------------------
    ("redis-larger-than-host", doc_with([R, "cache", "memory"], "8GiB"), ["memory on local", "room for"]),
    ("memory-100TB", doc_with([H, 0, "memory"], "100TB"), ["memory", "100TB", "at most 16TiB"]),
    ("memory-1e30", doc_with([H, 0, "memory"], "1e30"), ["memory", "1e30"]),
    ("health-paths-empty", doc_with([T, "health_paths"], []), ["health_paths", "at least"]),
    ("deep-nesting", "config:\n  tunestack:hosts: " + "[" * 5000 + "]" * 5000 + "\n", ["nesting deeper than"]),
    ("alias-bomb", alias_bomb(), ["aliases are expanded"]),
    # --- issue #10: accepted though wrong ------------------------------------------------------------
    ("duplicate-key", raw("    workload: web\n", "    workload: web\n    workload: oltp\n"),
     ["line 14", "duplicate key 'workload'", "first at line 13"]),
    ("duplicate-section", raw("  tunestack:traffic:\n", "  tunestack:app: {}\n  tunestack:traffic:\n"),
     ["duplicate key 'tunestack:app'"]),
    ("float-threads", doc_with([A, "threads"], 4.0), ["threads", "4.0", "integer"]),
    ("float-port", doc_with([B, "port"], 16432.0), ["pgbouncer → port", "16432.0", "integer"]),
    ("float-cpus", doc_with([H, 0, "cpus"], 5.0), ["cpus", "5.0", "integer"]),
    ("unit-Gb", doc_with([H, 0, "memory"], "4Gb"), ["memory", "4Gb"]),
    ("unit-lowercase", doc_with([H, 0, "memory"], "4gib"), ["memory", "4gib"]),
    ("non-ascii-digits", doc_with([H, 0, "memory"], "４GiB"), ["memory", "４GiB"]),
    ("bare-duration", doc_with([PG, "slow_query"], 250), ["slow_query", "250", "duration"]),
    ("bare-size", doc_with([H, 0, "memory"], 4294967296), ["memory", "4294967296"]),
    ("request-timeout-500ms", doc_with([A, "request_timeout"], "500ms"), ["request_timeout", "500ms", "at least 1"]),
    ("request-timeout-zero", doc_with([A, "request_timeout"], "0s"), ["request_timeout", "0s", "at least 1"]),
    ("request-timeout-fraction", doc_with([A, "request_timeout"], "1500ms"), ["request_timeout", "whole seconds"]),
    ("idle-tx-fraction", doc_with([PG, "idle_in_transaction_timeout"], "1500ms"),
     ["idle_in_transaction_timeout", "whole seconds"]),
    ("redis-1B", doc_with([R, "queue", "memory"], "1B"), ["queue → memory", "at least 16MiB"]),
    ("lb-on-canary-port", doc_with([A, "lb_port"], 18100), ["lb_port", "18100", "canary"]),
    ("peak-rps-nan", doc_with([T, "peak_rps"], math.nan), ["peak_rps", "nan"]),
    ("gate-nan", doc_with([RO, "gates", "max_error_rate"], math.nan), ["max_error_rate", "nan"]),
    ("gate-p95-inf", doc_with([RO, "gates", "max_p95_ms"], math.inf), ["max_p95_ms", "inf"]),
    ("min-requests-float", doc_with([RO, "gates", "min_requests"], 50.5), ["min_requests", "50.5"]),
    # --- more of our own ---------------------------------------------------------------------------
    ("empty-file", "", ["(top level)", "config"]),
    ("top-level-list", "- config\n", ["(top level)"]),
    ("yaml-tab", "config:\n\ttunestack:hosts: []\n", ["line 2", "valid YAML"]),
    ("complex-key", "config:\n  ? [a, b]\n  : 1\n", ["list as a key"]),
    ("no-config", "secretsprovider: passphrase\n", ["config", "required"]),
    ("unknown-top-key", doc_with(["tunestack:postgress"], {}), ["tunestack:postgress", "did you mean"]),
    ("hosts-empty", doc_with([H], []), ["tunestack:hosts", "at least"]),
    ("host-name-upper", doc_with([H, 0, "name"], "Local"), ["name", "Local", "lower-case"]),
    ("role-unknown", doc_with([H, 0, "roles"], ["db", "cache", "web"]), ["roles[2]", "web"]),
    ("count-zero", doc_with([H, 0, "count"], 0), ["count", "at least 1"]),
    ("count-db", doc_with([H, 0, "count"], 2), ["count", "1 for hosts with the db or cache role"]),
    ("storage-tape", doc_with([H, 0, "storage"], "tape"), ["storage", "tape", "ssd"]),
    ("type-and-cpus", doc_with([H, 0, "instance_type"], "m6i.large"), ["instance_type", "either"]),
    ("duplicate-host", doc_with([H], [BASE["config"][H][0], BASE["config"][H][0]]),
     ["name", "a name used once"]),
    ("no-app-host", doc_with([H, 0, "roles"], ["db", "cache"]), ["at least one host with role app"]),
    ("pg-version-string", doc_with([PG, "version"], "16"), ["version", "16"]),
    ("admin-negative", doc_with([PG, "admin_connections"], -1), ["admin_connections", "at least 0"]),
    ("override-bad-value", doc_with([PG, "overrides"], {"work_mem": "lots"}), ["overrides → work_mem", "lots"]),
    ("lock-above-statement", doc_with([PG, "lock_timeout"], "20s") .replace("slow_query", "statement_timeout: 10s\n    slow_query"),
     ["lock_timeout", "less than statement_timeout"]),
    ("bouncer-version", doc_with([B, "version"], "2.0"), ["pgbouncer → version", "2.0"]),
    ("pool-size-zero", doc_with([B, "default_pool_size"], 0), ["default_pool_size", "at least 1"]),
    ("max-client-word", doc_with([B, "max_client_conn"], "many"), ["max_client_conn", "many", "integer"]),
    ("cache-volatile", doc_with([R, "cache", "policy"], "volatile-lru"), ["cache → policy", "allkeys-lru"]),
    ("queue-evicts", doc_with([R, "queue", "policy"], "allkeys-lfu"), ["queue → policy", "noeviction"]),
    ("jobs-concurrency-zero", doc_with([A, "jobs", "concurrency"], 0), ["concurrency", "at least 1"]),
    ("jobs-processes-float", doc_with([A, "jobs", "processes"], 1.5), ["processes", "1.5"]),
    ("framework-django", doc_with([A, "framework"], "django"), ["framework", "django", "rails"]),
    ("threads-zero", doc_with([A, "threads"], 0), ["threads", "at least 1"]),
    # --- issue #15: Go and Node ----------------------------------------------------------------------
    ("ruby-on-python", doc_with([A, "ruby"], "3.2"), ["app → ruby", "a setting of a rails app", "python"]),
    ("go-on-python", doc_with([A, "go"], {"conn_max_lifetime": "10m"}), ["app → go", "a setting of a go app"]),
    ("go-lifetime-over-pgbouncer", go_doc({"conn_max_lifetime": "2h"}),
     ["conn_max_lifetime", "2h", "less than PgBouncer's server_lifetime (60 min)"]),
    ("go-idle-over-lifetime", go_doc({"conn_max_lifetime": "10m", "conn_max_idle_time": "20m"}),
     ["conn_max_idle_time", "at most conn_max_lifetime"]),
    ("node-heap-over-memory", node_doc({"max_old_space": "2GiB"}),
     ["max_old_space", "2GiB", "less than memory_per_worker"]),
    ("worker-memory-zero", doc_with([A, "memory_per_worker"], "0MiB"), ["memory_per_worker", "above zero"]),
    ("tracing-negative", doc_with([T, "tracing_budget", "per_month"], -1), ["per_month", "at least 0"]),
    ("tracing-unit", doc_with([T, "tracing_budget", "unit"], "traces"), ["unit", "traces"]),
    ("rule-rate-high", doc_with([T, "sampling_rules"], [{"path": "/x", "rate": 1.5}]), ["rate", "1.5", "at most 1"]),
    ("rule-shares", doc_with([T, "sampling_rules"], [{"path": "/a", "rate": 1, "share": 0.7},
                                                      {"path": "/b", "rate": 1, "share": 0.7}]), ["add up to at most 1"]),
    ("rule-on-health", doc_with([T, "sampling_rules"], [{"path": "/health", "rate": 1}]), ["not a health check"]),
    ("steps-empty", doc_with([RO, "steps"], []), ["steps", "at least"]),
    ("steps-no-100", doc_with([RO, "steps"], [10, 50]), ["steps", "last step of 100"]),
    ("surge-150", doc_with([RO, "max_surge"], 150), ["max_surge", "at most 100"]),
    ("error-rate-2", doc_with([RO, "gates", "max_error_rate"], 2), ["max_error_rate", "at most 1"]),
    ("min-requests-zero", doc_with([RO, "gates", "min_requests"], 0), ["min_requests", "at least 1"]),
    ("bake-500ms", doc_with([RO, "bake"], "500ms"), ["bake", "at least 1"]),
    ("canary-weight-no-image", without_line(doc_with(["tunestack:canaryWeight"], 50), "    canary_app: tunestack/refapp:0.2.0\n"),
     ["canaryWeight", "no canary image"]),
    ("canary-weight-101", doc_with(["tunestack:canaryWeight"], 101), ["canaryWeight", "at most 100"]),
    ("secret-in-clear", doc_with(["tunestack:dbPassword"], "hunter2"), ["dbPassword"]),
    ("postgres-image-other-major", doc_with(["tunestack:images", "postgres"], "tunestack/postgres:16"),
     ["images → postgres", "tunestack/postgres:15"]),
    ("image-unknown-key", doc_with(["tunestack:images", "worker"], "x:1"), ["images", "worker"]),
    ("port-70000", doc_with([PG, "port"], 70000), ["postgres → port", "at most 65535"]),
    ("port-zero", doc_with([A, "port"], 0), ["app → port", "at least 1"]),
    ("app-port-high", doc_with([A, "port"], 65500), ["app → port", "65435"]),
    ("port-clash", doc_with([R, "cache", "port"], 15432), ["cache → port", "taken by postgres"]),
    ("workload-bool", raw("    workload: web", "    workload: yes"), ["workload", "True"]),
    ("peak-rps-zero", doc_with([T, "peak_rps"], 0), ["peak_rps", "more than 0"]),
    ("spans-zero", doc_with([T, "tracing_budget", "spans_per_transaction"], 0), ["spans_per_transaction"]),
    ("huge-file", "config: {}\n" + "# " + "x" * (1024 * 1024) + "\n", ["bytes", "at most"]),
]
SECRET_WORDS = ("hunter2",)


def test_at_least_sixty_kinds():
    assert len({case[0] for case in CASES}) >= 60


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    code = main(["plan", "--stack-file", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, err + out
    assert out == "", "nothing is planned or printed for a bad file"
    assert "Traceback" not in err and str(path) in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    if "budget" not in err:
        assert "allowed:" in err
    assert "fix" in err
    assert len(err) < 5000, "one clear error, not a dump of the file"
    assert not any(w in err for w in SECRET_WORDS if case != "secret-in-clear")


def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "Pulumi.bin.yaml"
    path.write_bytes(b"\xff\xfe\x00config")
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "UTF-8" in err and str(path) in err


def test_bad_stack_name(tmp_path, capsys):
    path = tmp_path / "Pulumi.Bad;Name.yaml"
    path.write_text((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Bad;Name" in err and "lower-case letters" in err


def test_every_problem_names_its_line(tmp_path, capsys):
    """Like a compiler: FILE:LINE: key path, for a wrong value, a wrong type and a missing key (the
    line of the mapping it belongs in)."""
    text = (ROOT / "stacks" / "Pulumi.local.yaml").read_text()
    text = text.replace("workload: web", "workload: webb").replace("cpus: 2", "cpus: two")
    text = text.replace("    framework: python\n", "")
    path = tmp_path / "Pulumi.lines.yaml"
    path.write_text(text)
    assert main(["plan", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    lines = text.splitlines()
    for key, needle in (("tunestack:postgres → workload", "workload: webb"), ("tunestack:hosts[0] → cpus", "cpus: two"),
                        ("tunestack:app", "tunestack:app:")):
        number = next(i for i, line in enumerate(lines, 1) if needle in line)
        assert f"{path}:{number}: config → {key}" in err, err
