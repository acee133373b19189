"""What the Go and Node apps' own sessions see (their runtime reports): the role's statement and
lock timeouts for a web request and for a job, and the request timeout inside the app (Go's
http.TimeoutHandler, Node's server.requestTimeout). Rails reports the same through test_rails.py."""
import pytest

from verify.helpers import process_report

SERVICE = "web"


@pytest.fixture(autouse=True)
def only_go_and_node(plan):
    if plan.spec.app.framework not in ("go", "node"):
        pytest.skip("the stack's app is neither Go nor Node")


@pytest.mark.parametrize("process", ["web", "jobs"])
@pytest.mark.parametrize("name", ["statement_timeout", "lock_timeout"])
def test_session_timeouts(host, plan, secrets_dir, record, process, name):
    seen = process_report(host, plan, secrets_dir, process)
    role = plan.jobs_role if process == "jobs" else "app"
    record(f"{plan.postgres_roles[role][name].text} (role {role})", f"{seen[name]} (role {seen['database_user']})")


def test_request_timeout(host, plan, secrets_dir, record):
    want = plan.web_env["REQUEST_TIMEOUT"].value / 1000
    seen = process_report(host, plan, secrets_dir, "web")["request_timeout"]
    record(f"{want:g} s", f"{seen:g} s", want == seen)
