"""`tunestack advise`: read a running stack's own counters twice, and turn what they show into
stack-file changes that go through review like any other (issue #17).

- snapshot.py: the counters, read over the same connections as verify (testinfra hosts);
- rules.py: pure; two snapshots and the plan → findings, or "not enough data" per area;
- write.py: a finding's change written into the stack file, comments and order kept (ruamel.yaml).
"""
