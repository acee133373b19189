"""Backups and point-in-time recovery with pgBackRest: the pure parts (restore targets, the
schedule) and the one way tunestack runs pgBackRest. The policy itself is planned in
plan/backup.py; the local stack's glue is local/backups.py."""
