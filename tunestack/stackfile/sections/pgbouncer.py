"""tunestack:pgbouncer: pool mode, version, port and the pool sizes a file may pin."""
from __future__ import annotations

from ...units import release
from ..checker import Checker, given
from ..schema import NS
from ..spec import PgBouncerSpec


def pgbouncer(ck: Checker) -> PgBouncerSpec:
    c = ck.config[f"{NS}:pgbouncer"]
    version = {"version": release(c["version"])} if "version" in c else {}
    return PgBouncerSpec(pool_mode=c["pool_mode"], **version,
                         **given(c, port="port", default_pool_size="default_pool_size", max_client_conn="max_client_conn"))
