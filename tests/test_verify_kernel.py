"""`verify --kernel` reads the host's own kernel: run against this machine, each row's verdict is
what this machine's /proc and /sys say against the local stack's plan. No services are needed."""
import json
import subprocess
import sys

from tunestack import stackfile
from tunestack.paths import ROOT
from tunestack.plan import build_plan


def live(setting):
    if setting == "transparent_hugepage":
        text = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
        return text[text.index("[") + 1:text.index("]")]
    return int(open("/proc/sys/" + setting.replace(".", "/")).read())


def test_verify_kernel_compares_this_machines_values(tmp_path):
    report = tmp_path / "report.json"
    res = subprocess.run([sys.executable, "-m", "pytest", "verify/test_host_kernel.py", "-p", "no:cacheprovider", "-q",
                          "--hosts=local://", "--stack", "local", "--kernel", "--report", str(report)],
                         cwd=ROOT, capture_output=True, text=True)
    rows = json.loads(report.read_text())
    plan = build_plan(stackfile.load(stackfile.stack_path("local"), name="local"))
    planned = plan.host_kernel["local"]
    assert len(rows) == len(planned), res.stdout
    for setting, s in planned.items():
        (row,) = [r for r in rows if f"-{setting}-" in r["check"]]
        want = live(setting) >= s.value if setting == "net.core.somaxconn" else live(setting) == s.value
        assert row["ok"] == want, row
    assert (res.returncode == 0) == all(r["ok"] for r in rows)


def test_without_the_option_the_host_kernel_is_not_checked(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pytest", "verify/test_host_kernel.py", "-p", "no:cacheprovider", "-q",
                          "--hosts=local://", "--stack", "local", "-rs"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and "tunestack verify --kernel" in res.stdout
