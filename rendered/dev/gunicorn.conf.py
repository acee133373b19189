# gunicorn.conf.py for stack dev, rendered by tunestack from the plan.
import os

# 2 × 4 cores + 1 (Gunicorn docs)
workers = int(os.environ.get("WEB_CONCURRENCY", "9"))
# stack file; threads > 1 selects the gthread worker
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
bind = os.environ.get("BIND", "127.0.0.1:8000")
# stack file (default 30 s)
timeout = 30
graceful_timeout = 30
# Restart workers now and then to bound leaks; jitter staggers the restarts.
max_requests = 10000
max_requests_jitter = 1000
