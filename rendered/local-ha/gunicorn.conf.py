# gunicorn.conf.py for stack local-ha, rendered by tunestack from the plan.
import os

# 2 × 2 cores + 1 (Gunicorn docs)
workers = int(os.environ.get("WEB_CONCURRENCY", "5"))
# stack file; threads > 1 selects the gthread worker
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
bind = os.environ.get("BIND", "127.0.0.1:18600")
# stack file (default 30 s)
timeout = 30
graceful_timeout = 30
# Restart workers now and then to bound leaks; jitter staggers the restarts.
max_requests = 10000
max_requests_jitter = 1000


# prometheus_client's multiprocess mode (refapp/metrics.py): every worker writes its metrics to files
# in one private folder per master, so a scrape answered by any worker reports all of them.
def on_starting(server):
    import tempfile
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tunestack-metrics-")


def child_exit(server, worker):
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    import shutil
    shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)
