"""Docker's `cpus` as the Pulumi Docker provider reads it back, so a container is never replaced
for a difference of spelling.

The provider (pulumi-docker 5, built on terraform-provider-docker) sends `cpus` to Docker through
docker/cli's ParseCPUs (a decimal, times 10^9, must be whole nanocpus) and reads it back with
nanoInt64ToDecimalString (internal/provider/helpers.go): the value with nine decimals; when that
text holds exactly nine "0" characters, the value rounded to one decimal; otherwise the text with
its trailing zeros cut. So 1 reads back "1.0", 2.25 "2.25", and 30 "30." (ten zeros: cut). `cpus`
forces a replacement, so what is sent must be that text."""
from __future__ import annotations

from fractions import Fraction

NANO = 10**9


def provider_cpus_text(nanocpus: int) -> str:
    """nanoInt64ToDecimalString for a non-negative value."""
    if nanocpus == 0:
        return "0"
    whole, fraction = divmod(nanocpus, NANO)
    text = f"{whole}.{fraction:09d}"
    if text.count("0") == 9:
        tenths = (nanocpus * 10 + NANO // 2) // NANO   # big.Rat.FloatString(1): half away from zero
        return f"{tenths // 10}.{tenths % 10}"
    return text.rstrip("0")


def parse_cpus(text: str) -> int:
    """docker/cli's ParseCPUs: the decimal times 10^9, which must be whole."""
    nano = Fraction(text) * NANO
    if nano.denominator != 1:
        raise ValueError(f"cpus {text!r} is not a whole number of nanocpus")
    return int(nano)


def docker_cpus(cpus: float) -> str:
    """What to send as `cpus`: the provider's own reading of it, which Docker parses to the same
    limit. A limit the provider would read back as another one (0.05 reads "0.1") is refused: the
    planner must not produce it."""
    nanocpus = round(cpus * NANO)
    text = provider_cpus_text(nanocpus)
    if parse_cpus(text) != nanocpus:
        raise ValueError(f"a CPU limit of {cpus} reads back from the Docker provider as {text}: "
                         f"plan limits the provider keeps as they are")
    return text
