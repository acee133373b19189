"""tunestack:images and tunestack:registry: each tunestack/* tag one that images/ builds (a pure
table, recipes.py), PostgreSQL's image of the planned major, and a registry with its password."""
from __future__ import annotations

from ...errors import MISSING, Problem, StackError
from ...recipes import buildable_tags
from ..checker import Checker
from ..problems import path_text
from ..schema import NS

KEY = f"{NS}:images"


def images(ck: Checker) -> dict:
    found = ck.config.get(KEY, {})
    pg_image = found.get("postgres", "")
    pg_version = ck.config[f"{NS}:postgres"]["version"]
    if pg_image.startswith("tunestack/postgres:") and pg_image.split(":")[1] != str(pg_version):
        ck.problem([KEY, "postgres"], pg_image, f"tunestack/postgres:{pg_version}, the image of the PostgreSQL major "
                   "the stack plans for", f"name tunestack/postgres:{pg_version}, or plan for "
                   f"version {pg_image.split(':')[1]}")
    for role, image in sorted(found.items()):
        _buildable(ck, role, image)
    return dict(found)


def _buildable(ck: Checker, role: str, image) -> None:
    """A tunestack/* image is built from this repository (`tunestack images build`): its tag must
    be one a recipe in images/ makes. Other names come from the user's registry."""
    if not isinstance(image, str) or not image.startswith("tunestack/") or image.startswith("tunestack/postgres:"):
        return
    tags = buildable_tags()
    if image not in tags:
        ck.problem([KEY, role], image, "a tag that images/ builds: " + ", ".join(sorted(tags)),
                   "name one of those, or push your own image to your registry and name it there")


def registry(ck: Checker, secrets: tuple[str, ...]) -> tuple[str, str] | None:
    found = ck.config.get(f"{NS}:registry")
    if found:
        port = found["address"].rpartition(":")[2] if ":" in found["address"] else ""
        if port and not 1 <= int(port) <= 65535:
            ck.problem([f"{NS}:registry", "address"], found["address"], "a port from 1 to 65535",
                       "write the registry's host[:port], e.g. ghcr.io or registry.example:5000")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in found["username"]):
            ck.problem([f"{NS}:registry", "username"], "(a name with control characters)", "printable text only",
                       "write the registry user's name as the registry shows it")
    if found and "registryPassword" not in secrets:
        ck.problems.append(Problem(ck.file, path_text(["config", f"{NS}:registryPassword"]), MISSING,
                                   "a Pulumi secret with the registry's password or token",
                                   "pulumi config set --secret tunestack:registryPassword …"))
    if ck.problems:
        raise StackError(ck.problems)
    return (found["address"], found["username"]) if found else None
