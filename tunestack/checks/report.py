"""Run the pytest runs of a verify and gather what they found: one row per check, and the checks
that could not run at all."""
from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..paths import ROOT


@dataclass
class VerifyReport:
    rows: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # checks that could not run
    codes: list[int] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["ok"]]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or any(self.codes) or not self.rows else 0


def run_one(run) -> subprocess.CompletedProcess:
    return subprocess.run(run.cmd, cwd=ROOT, capture_output=True, text=True, env=run.env)


def run_all(runs) -> VerifyReport:
    """Machines are checked at once (each its own pytest): over SSH the time goes to round trips,
    not to this machine's CPU. Results are kept in the stack's order."""
    with ThreadPoolExecutor(max_workers=min(8, len(runs))) as pool:
        results = list(pool.map(run_one, runs))
    report = VerifyReport()
    for run, res in zip(runs, results):
        mine = json.loads(run.report.read_text()) if run.report.exists() else []
        for r in mine:
            r["machine"] = run.machine
        report.rows += mine
        report.codes.append(res.returncode)
        if res.returncode:
            report.problems += _unrecorded(run, res, mine)
    return report


def _unrecorded(run, res, mine: list[dict]) -> list[str]:
    """pytest failures with no row of their own: checks that could not run at all."""
    recorded = {r["check"] for r in mine if not r["ok"]}
    lines = [line for line in (res.stdout + res.stderr).splitlines()
             if line.startswith(("ERROR", "FAILED")) and line.split("::")[-1].split(" - ")[0].strip() not in recorded]
    if not lines and recorded:
        return []
    return [f"{run.machine}: {line}" if run.machine else line for line in lines] \
        or [f"{run.machine}: {(res.stdout + res.stderr)[-1500:]}"]
