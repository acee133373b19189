"""tunestack: one stack file → one plan → every artifact of a tuned web stack."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tunestack")
except PackageNotFoundError:  # running from a checkout that was not installed (e.g. review's base tree)
    __version__ = "0+unknown"
