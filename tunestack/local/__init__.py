"""The local stack, in rooms: folders (what lives where, who owns it), secrets, packages (the one
Debian list), appbuild (the reference apps), preflight, apply (the pure reload/restart policy),
programs and supervisor (supervisord), control (the running servers, bootstrap), status, and
stack (LocalStack, which brings them together)."""
from .appbuild import RAILS_APP, build_reference_app, warm_build_caches
from .errors import LocalStackError, ProgramGaveUp, wait_until
from .stack import LocalStack

__all__ = ["LocalStack", "LocalStackError", "ProgramGaveUp", "RAILS_APP", "build_reference_app",
           "wait_until", "warm_build_caches"]
