"""`tunestack review` on real git histories built by the tests (issue 5)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tunestack.paths import ROOT

KEEP = ["tunestack", "configs"]


def git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    repo = tmp_path_factory.mktemp("template")
    for name in KEEP:
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "stacks").mkdir()
    for stack in ("local", "staging"):  # two stacks keep the tests quick
        shutil.copy(ROOT / "stacks" / f"Pulumi.{stack}.yaml", repo / "stacks")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


@pytest.fixture
def repo(template, tmp_path):
    target = tmp_path / "repo"
    shutil.copytree(template, target)
    return target


def edit_stack(repo, stack, change):
    path = repo / "stacks" / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc))


def commit(repo, message="head"):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def review(repo, *args, fmt="json"):
    res = subprocess.run([sys.executable, "-m", "tunestack", "review", "--base", "HEAD~1", "--head", "HEAD",
                          "--format", fmt, *args], cwd=repo, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)})
    return res, (json.loads(res.stdout) if fmt == "json" and res.stdout.startswith("{") else res.stdout)


def stack(doc, name):
    return next(s for s in doc["stacks"] if s["stack"] == name)


def test_stack_edit_shows_old_new_and_both_reasons(repo):
    edit_stack(repo, "local", lambda c: c["tunestack:app"].__setitem__("threads", 2))
    commit(repo)
    res, doc = review(repo)
    assert res.returncode == 0, res.stderr
    local = stack(doc, "local")
    threads = next(c for c in local["changes"] if c["section"] == "web env" and c["name"] == "GUNICORN_THREADS")
    assert (threads["old"], threads["new"], threads["kind"]) == (4, 2, "changed")
    pool = next(c for c in local["changes"] if c["section"] == "web env" and c["name"] == "DB_POOL")
    assert (pool["old"], pool["new"]) == (6, 4)
    assert pool["old_reason"] == "4 threads + 2 headroom" and pool["new_reason"] == "2 threads + 2 headroom"
    assert "-GUNICORN_THREADS=4" in local["diff"] and "+GUNICORN_THREADS=2" in local["diff"]
    assert stack(doc, "staging")["status"] == "unchanged"
    # Budget headroom before and after
    fleet = next(b for b in local["budgets"] if b["name"].startswith("fleet"))
    assert fleet["used_after"] < fleet["used_before"]  # fewer threads, fewer pooled connections
    assert fleet["before"] is not None and fleet["after"] is not None


def test_tuning_rule_change_uses_each_revisions_code(repo):
    rule = repo / "tunestack" / "plan" / "redis.py"
    rule.write_text(rule.read_text().replace("CACHE_MAXMEMORY_SHARE = 0.75", "CACHE_MAXMEMORY_SHARE = 0.5"))
    commit(repo, "cache keeps more headroom")
    res, doc = review(repo)
    assert res.returncode == 0, res.stderr
    for name, memory in (("local", 256 * 1024**2), ("staging", 6 * 1024**3)):
        change = next(c for c in stack(doc, name)["changes"] if c["section"] == "redis cache" and c["name"] == "maxmemory")
        assert (change["old"], change["new"]) == (int(memory * 0.75), int(memory * 0.5))
        assert change["new_reason"].startswith("50% of") and change["old_reason"].startswith("75% of")
    md = review(repo, fmt="markdown")[1]
    assert "| redis cache | maxmemory |" in md and "-33%" in md
    # bytes with their human size beside them
    assert "| `201326592 (192 MiB)` | `134217728 (128 MiB)` |" in md


def test_budget_break_at_head_blocks_the_merge(repo):
    edit_stack(repo, "staging", lambda c: c["tunestack:pgbouncer"].__setitem__("max_client_conn", 5))
    commit(repo)
    res, doc = review(repo)
    assert res.returncode == 1
    s = stack(doc, "staging")
    assert s["failing"] and any("budget broken: fleet client connections" in e for e in s["errors"])
    md = review(repo, fmt="markdown")
    assert md[0].returncode == 1 and "**✗ Blocking:** staging" in md[1]


def test_invalid_stack_at_head_blocks_the_merge(repo):
    edit_stack(repo, "local", lambda c: c["tunestack:postgres"].__setitem__("workload", "webb"))
    commit(repo)
    res, doc = review(repo)
    assert res.returncode == 1
    assert stack(doc, "local")["status"] == "broken" and "did you mean 'web'" in stack(doc, "local")["errors"][0]


def test_changed_secret_is_reported_masked(repo):
    edit_stack(repo, "staging", lambda c: c.__setitem__("tunestack:dbPassword", {"secure": "v1:OLDCIPHERTEXT"}))
    commit(repo, "secret")
    edit_stack(repo, "staging", lambda c: c.__setitem__("tunestack:dbPassword", {"secure": "v1:NEWCIPHERTEXT"}))
    commit(repo, "rotate")
    res, doc = review(repo)
    assert res.returncode == 0
    assert stack(doc, "staging")["secrets"] == ["tunestack:dbPassword changed (value ••••••)"]
    md = review(repo, fmt="markdown")[1]
    assert "CIPHERTEXT" not in res.stdout and "CIPHERTEXT" not in md
    assert "tunestack:dbPassword changed" in md


def test_renamed_key(repo):
    app = repo / "tunestack" / "plan" / "app.py"
    text = app.read_text()
    web_pool = 'env["REDIS_POOL_SIZE"] = Setting(app.threads'
    assert text.count(web_pool) == 1
    app.write_text(text.replace(web_pool, 'env["REDIS_MAX_CONNECTIONS"] = Setting(app.threads'))
    commit(repo, "rename")
    res, doc = review(repo)
    assert res.returncode == 0, res.stderr
    renamed = [c for c in stack(doc, "local")["changes"] if c["kind"] == "renamed"]
    assert [(c["renamed_from"], c["name"], c["section"]) for c in renamed] == [
        ("REDIS_POOL_SIZE", "REDIS_MAX_CONNECTIONS", "web env")]


def test_stack_missing_at_base_is_new(repo):
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", repo / "stacks")
    commit(repo, "add dev")
    res, doc = review(repo)
    assert res.returncode == 0, res.stderr
    dev = stack(doc, "dev")
    assert dev["status"] == "new"
    assert all(c["kind"] == "added" for c in dev["changes"]) and len(dev["changes"]) > 50
    assert "+++ head/dev/postgresql.conf" in dev["diff"]


def test_change_without_setting_changes_says_so_in_one_line(repo):
    path = repo / "stacks" / "Pulumi.local.yaml"
    path.write_text(path.read_text() + "# a comment only\n")
    commit(repo)
    res, md = review(repo, fmt="markdown")
    assert res.returncode == 0
    assert "| local | unchanged | 0 |" in md and "**local**: unchanged, no setting changes." in md


def test_unknown_base_is_a_clear_error(repo):
    res = subprocess.run([sys.executable, "-m", "tunestack", "review", "--base", "no-such-ref"], cwd=repo,
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)})
    assert res.returncode == 2 and "no-such-ref" in res.stderr and "Traceback" not in res.stderr


def test_only_known_secret_values_are_masked():
    """Prose about passwords stays readable; the values the stack files keep as secrets do not."""
    from tunestack.review import mask_known

    text = "DATABASE_URL  the password comes from the secret store\n+token v1:SECRETVALUE\n"
    assert mask_known(text, ["v1:SECRETVALUE"]) == \
        "DATABASE_URL  the password comes from the secret store\n+token ••••••\n"


def test_the_comment_fits_githubs_limit_and_the_full_review_has_everything(repo, tmp_path):
    """GitHub refuses comments over 65,536 characters: the comment keeps the summary and cuts
    details (diffs first) under 60,000; --full writes all of it."""
    for name in ("dev", "prod"):
        shutil.copy(ROOT / "stacks" / f"Pulumi.{name}.yaml", repo / "stacks")
    commit(repo, "add two stacks: hundreds of added settings and thousands of diff lines")
    full = tmp_path / "full.md"
    res, md = review(repo, "--full", str(full), fmt="markdown")
    assert res.returncode == 0, res.stderr
    assert len(md) <= 60_000 < len(full.read_text())
    assert md.startswith("<!-- tunestack-review -->") and "| prod | new |" in md
    assert "see the full review" in md
    assert "+++ head/prod/postgresql.conf" in full.read_text()


def test_the_review_of_the_first_commit_against_head_fits_a_comment(tmp_path):
    """Issue #16: this repository's whole history as one review (every stack new, thousands of
    settings and diff lines) still fits GitHub's 65,536-character comment limit."""
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()[-1]
    full = tmp_path / "full.md"
    res = subprocess.run([sys.executable, "-m", "tunestack", "review", "--base", first, "--head", "HEAD", "--quiet",
                          "--full", str(full)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(res.stdout) <= 60_000 and res.stdout.startswith("<!-- tunestack-review -->")
    assert len(full.read_text()) >= len(res.stdout)
