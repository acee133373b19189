"""The host's own kernel against the plan (sysctl-<host>.conf, thp-<host>.conf): memory overcommit,
huge pages for PostgreSQL, transparent huge pages. Only with `tunestack verify --kernel`: tunestack
renders these files but never changes a machine's kernel itself."""
import pytest

from verify.conftest import plan_of

SYSCTL_PATHS = {"vm.nr_hugepages": "/proc/sys/vm/nr_hugepages", "vm.overcommit_memory": "/proc/sys/vm/overcommit_memory",
                "vm.overcommit_ratio": "/proc/sys/vm/overcommit_ratio", "net.core.somaxconn": "/proc/sys/net/core/somaxconn",
                "vm.dirty_background_bytes": "/proc/sys/vm/dirty_background_bytes",
                "vm.dirty_bytes": "/proc/sys/vm/dirty_bytes", "vm.swappiness": "/proc/sys/vm/swappiness"}
AT_LEAST = {"vm.nr_hugepages", "net.core.somaxconn"}


def pytest_generate_tests(metafunc):
    if "setting" in metafunc.fixturenames:
        plan = plan_of(metafunc.config)
        keys = sorted({(h, k) for h, settings in plan.host_kernel.items() for k in settings})
        metafunc.parametrize("machine,setting", keys, ids=[f"{h}-{k}" for h, k in keys])


@pytest.fixture(autouse=True)
def only_with_kernel_option(pytestconfig):
    if not pytestconfig.getoption("--kernel"):
        pytest.skip("host kernel checks run with `tunestack verify --kernel`")


def machine_of(host, plan) -> str | None:
    """Which planned host a testinfra host is: local:// is the stack's one local host; ssh:// by address."""
    backend, _, name = host.backend.get_pytest_id().partition("://")
    if backend == "local":
        local = [h.name for h in plan.spec.hosts if h.is_local]
        return local[0] if len(local) == 1 else None
    if backend in ("ssh", "paramiko"):
        address = name.split("@")[-1].split(":")[0]
        return next((h.name for h in plan.spec.hosts if address in h.addresses), None)
    return None   # a container: its kernel is its machine's


def test_host_kernel(host, plan, record, machine, setting):
    if machine_of(host, plan) != machine:
        pytest.skip(f"{host.backend.get_pytest_id()} is not host {machine}")
    planned = plan.host_kernel[machine][setting]
    if setting == "transparent_hugepage":
        text = host.file("/sys/kernel/mm/transparent_hugepage/enabled").content_string
        actual = text[text.index("[") + 1:text.index("]")]   # "always madvise [never]"
        record(planned.text, actual)
        return
    actual = int(host.file(SYSCTL_PATHS[setting]).content_string.strip())
    if setting in AT_LEAST:
        record(f">= {planned.value}", actual, actual >= planned.value)
    else:
        record(planned.value, actual)
