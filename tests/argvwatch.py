"""A local attacker's view (issue #23): `nobody` reads every process's /proc/<pid>/cmdline and
/proc/<pid>/environ it can, over and over, while a command runs; whatever holds a secret is caught.
The watcher is a real process running as nobody, stopped by the test (bounded in time)."""
from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"   # python3-minimal, a dependency of Debian's own tools

# Runs as nobody with no access to the secrets: it gets them on stdin, reads /proc until told to
# stop (a line on stdin) or for at most 600 s, and prints what it found.
WATCHER = r"""
import json, os, sys, threading, time
secrets = json.loads(sys.stdin.readline())
stop, found, rounds = threading.Event(), {}, [0]
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
deadline = time.monotonic() + 600
while not stop.is_set() and time.monotonic() < deadline:
    rounds[0] += 1
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as f:
                    text = f.read().decode(errors="replace")
            except OSError:
                continue
            for name, value in secrets.items():
                if value in text:
                    found.setdefault(name, text.replace("\0", " ")[:300])
    stop.wait(0.005)
print(json.dumps({"found": found, "rounds": rounds[0]}))
"""


@contextlib.contextmanager
def nobody_watching(secrets: dict[str, str]):
    """Yields a dict that, after the block, holds `found` (secret name → the process text that held
    it) and `rounds` (how often /proc was read)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "watch.py"
        script.write_text(WATCHER)
        script.chmod(0o644)
        Path(tmp).chmod(0o755)
        # Debian's interpreter: the venv's may live under /root, which nobody cannot enter.
        watcher = subprocess.Popen(["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, str(script)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        result: dict = {}
        try:
            watcher.stdin.write(json.dumps(secrets) + "\n")
            watcher.stdin.flush()
            yield result
        finally:
            out, _ = watcher.communicate("stop\n", timeout=60)
            result.update(json.loads(out) if out.strip() else {"found": {}, "rounds": 0})
