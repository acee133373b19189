"""`tunestack verify` as the domain sees it: which pytest runs of verify/ check a stack (runs.py),
whether their SSH hosts answer (ssh.py), and what they found (report.py). Every expectation comes
from the plan; verify/ holds the checks themselves."""
