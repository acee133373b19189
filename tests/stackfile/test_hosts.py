"""Bad input in tunestack:hosts: addresses and users nothing can inject through, shapes, counts, roles.
Each case is a whole stack file: exit 2, one clear error, nothing planned (badinput.check)."""
import pytest

from .badinput import BASE, H, check, doc_with, staging_with

CASES = [
    ("address-injection", doc_with([H, 0, "addresses"], ["127.0.0.1\n[pgbouncer]\nauth_type = trust"]),
     ["addresses[0]", "IP address or a host name"]),
    ("address-ssh-option", doc_with([H, 0, "addresses"], ["-oProxyCommand=touch /tmp/x"]),
     ["addresses[0]", "-oProxyCommand", "IP address or a host name"]),
    ("address-with-space", doc_with([H, 0, "addresses"], ["10.0.0.1 10.0.0.2"]), ["addresses[0]", "host name"]),
    ("ssh-user-option", doc_with([H, 0, "ssh_user"], "-oProxyCommand=x"), ["ssh_user", "Unix user name"]),
    ("memory-100TB", doc_with([H, 0, "memory"], "100TB"), ["memory", "100TB", "at most 16TiB"]),
    ("memory-1e30", doc_with([H, 0, "memory"], "1e30"), ["memory", "1e30"]),
    ("float-cpus", doc_with([H, 0, "cpus"], 5.0), ["cpus", "5.0", "integer"]),
    ("unit-Gb", doc_with([H, 0, "memory"], "4Gb"), ["memory", "4Gb"]),
    ("unit-lowercase", doc_with([H, 0, "memory"], "4gib"), ["memory", "4gib"]),
    ("non-ascii-digits", doc_with([H, 0, "memory"], "４GiB"), ["memory", "４GiB"]),
    ("bare-size", doc_with([H, 0, "memory"], 4294967296), ["memory", "4294967296"]),
    ("hosts-empty", doc_with([H], []), ["tunestack:hosts", "at least"]),
    ("host-name-upper", doc_with([H, 0, "name"], "Local"), ["name", "Local", "lower-case"]),
    ("role-unknown", doc_with([H, 0, "roles"], ["db", "cache", "web"]), ["roles[2]", "web"]),
    ("count-zero", doc_with([H, 0, "count"], 0), ["count", "at least 1"]),
    ("count-db", doc_with([H, 0, "count"], 2), ["count", "1 for hosts with the db or cache role"]),
    ("storage-tape", doc_with([H, 0, "storage"], "tape"), ["storage", "tape", "ssd"]),
    ("type-and-cpus", doc_with([H, 0, "instance_type"], "m6i.large"), ["instance_type", "either"]),
    ("duplicate-host", doc_with([H], [BASE["config"][H][0], BASE["config"][H][0]]),
     ["name", "a name used once"]),
    ("no-app-host", doc_with([H, 0, "roles"], ["db", "cache"]), ["at least one host with role app"]),
    # --- issue #23: a held-out set of hostile files ---------------------------------------------
    ("address-999", doc_with([H, 0, "addresses"], ["999.999.999.999"]), ["addresses[0]", "IP address or a host name"]),
    ("address-three-parts", doc_with([H, 0, "addresses"], ["10.20.1"]), ["addresses[0]", "10.20.1"]),
    ("address-every", doc_with([H, 0, "addresses"], ["0.0.0.0"]), ["addresses[0]", "not every address"]),
    ("address-broadcast", doc_with([H, 0, "addresses"], ["255.255.255.255"]), ["broadcast or multicast"]),
    ("address-twice-in-a-host", staging_with(lambda c: c[H][2].update(addresses=["10.20.2.11"] * 2 + ["10.20.2.13"])),
     ["hosts[2] → addresses[1]", "an address of its own (already app's)"]),
    ("db-and-app-on-one-address", staging_with(lambda c: c[H][2].update(addresses=["10.20.1.10", "10.20.2.12",
                                                                                    "10.20.2.13"])),
     ["hosts[2] → addresses[0]", "already db's"]),
    ("db-here-apps-remote", staging_with(lambda c: c[H][0].update(addresses=["127.0.0.1"])),
     ["every host remote, or every host on this machine", "give db its private address"]),
    ("threads-above-cpus", doc_with([H, 0, "threads_per_core"], 4), ["threads_per_core", "at most the host's 2 CPUs"]),
    ("threads-beside-instance-type", staging_with(lambda c: c[H][0].update(threads_per_core=2)),
     ["threads_per_core", "no threads_per_core beside an instance_type"])
]


@pytest.mark.parametrize("case,text,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, capsys, case, text, fragments):
    check(tmp_path, capsys, case, text, fragments)
