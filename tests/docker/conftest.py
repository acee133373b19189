"""The `docker` tests use the session's private Docker engine (tests/conftest.py: `engine`)."""
