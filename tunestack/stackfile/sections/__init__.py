"""One module per section of a stack file, like ansible-lint's one rule per file: each reads its
section through the Checker, records every problem it finds, and returns its typed spec. Their
bad-input cases live beside them in tests/stackfile/test_<section>.py."""
