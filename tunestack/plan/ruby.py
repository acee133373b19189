"""Ruby runtime rules by Ruby version, Rails version and PgBouncer version. Pure.

Each rule names its source. The Ruby version is the stack's (app.ruby), else Debian 12's 3.1, the
one the reference image and these hosts have."""
from __future__ import annotations

from dataclasses import dataclass

from ..units import MIB, release

DEFAULT_RUBY = "3.1"          # Debian 12's ruby: the reference app image and the local hosts
DEFAULT_RAILS = "6.1"         # Debian 12's rails
# rails/rails#55683 (Rails 8.1): statements are freed with the protocol's Close message (pg ≥ 1.6,
# libpq ≥ 17) instead of SQL DEALLOCATE, which PgBouncer forwards to whichever server connection the
# transaction has (pgbouncer/pgbouncer#1041: "prepared statement does not exist").
RAILS_PROTOCOL_CLOSE_FROM = (8, 1)
PGBOUNCER_TRACKS_PREPARED_FROM = (1, 21)   # PgBouncer NEWS 1.21: max_prepared_statements

# YJIT's code memory, bounded by the flag the plan sets (the defaults moved between releases: 256 MiB
# in 3.1, 64 in 3.2 and 3.3, then --yjit-mem-size 128 in 3.4, which bounds code and metadata).
YJIT_EXEC_MEM_MIB = 64        # Ruby PR #8031: "64MiB was a fair size" for Shopify's storefront on 3.2
YJIT_MEM_MIB = 128            # Ruby 3.4 NEWS: --yjit-mem-size, default 128 MiB, code and metadata


def _tuple(version: str) -> tuple[int, ...]:
    return release(version)


@dataclass(frozen=True)
class RubyRuntime:
    yjit: bool
    yjit_bytes: int          # per Ruby process (each Puma worker, each Sidekiq process)
    yjit_reason: str
    rubyopt: str             # the YJIT memory bound, for RUBYOPT ("" without YJIT)
    gc_init_slots: bool      # RUBY_GC_HEAP_INIT_SLOTS still read


def ruby_runtime(version: str) -> RubyRuntime:
    v = _tuple(version)
    gc = v < (3, 3)   # Ruby 3.3 NEWS: RUBY_GC_HEAP_INIT_SLOTS removed (per-pool RUBY_GC_HEAP_%d_INIT_SLOTS)
    if v < (3, 1):
        return RubyRuntime(False, 0, f"Ruby {version} has no YJIT (it arrived in 3.1)", "", gc)
    if v < (3, 2):
        # Ruby 3.2 NEWS: YJIT "is no longer experimental". Measured on 3.1 with the Rails reference
        # app (tunestack bench --only rails): no faster, half as much memory again per process.
        return RubyRuntime(False, 0, f"YJIT is experimental on Ruby {version} (production-ready from 3.2); "
                                     "measured here: no gain, +50 % memory per process", "", gc)
    if v >= (3, 4):
        return RubyRuntime(True, YJIT_MEM_MIB * MIB,
                           f"YJIT on Ruby {version}: --yjit-mem-size={YJIT_MEM_MIB} bounds its code and metadata "
                           "(Ruby 3.4 NEWS)", f"--yjit-mem-size={YJIT_MEM_MIB}", gc)
    return RubyRuntime(True, 2 * YJIT_EXEC_MEM_MIB * MIB,
                       f"YJIT on Ruby {version}: --yjit-exec-mem-size={YJIT_EXEC_MEM_MIB} bounds its code "
                       f"({'256' if v == (3, 1) else '64'} MiB by default on {version}); its metadata is not "
                       "bounded, so as much again is budgeted", f"--yjit-exec-mem-size={YJIT_EXEC_MEM_MIB}", gc)


def rails_prepared_statements(rails: str, pgbouncer: tuple[int, int], pool_mode: str) -> tuple[bool, str]:
    """Whether Active Record may use prepared statements behind this PgBouncer."""
    if pool_mode == "session":
        return True, "session pooling: a client keeps its server connection and its statements"
    if pgbouncer < PGBOUNCER_TRACKS_PREPARED_FROM:
        return False, (f"PgBouncer {pgbouncer[0]}.{pgbouncer[1]} in {pool_mode} mode does not track prepared "
                       "statements (tracking arrived in 1.21)")
    if _tuple(rails) < RAILS_PROTOCOL_CLOSE_FROM:
        return False, (f"Rails {rails} frees statements with SQL DEALLOCATE, which PgBouncer sends to another "
                       "server connection (pgbouncer/pgbouncer#1041; fixed by rails/rails#55683 in 8.1)")
    return True, (f"PgBouncer ≥ 1.21 tracks protocol-level statements and Rails {rails} closes them at the "
                  "protocol level (rails/rails#55683; needs pg ≥ 1.6 and libpq ≥ 17)")
