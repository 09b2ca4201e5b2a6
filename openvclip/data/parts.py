"""Work cut into ``n`` contiguous parts, one per shard job (see :mod:`.shards`): part ``k`` of the training
videos to re-encode, of the frame-store shards to decode."""

from __future__ import annotations

from typing import Tuple

from ..errors import UserError


def part(total: int, k: int, n: int) -> range:
    """The ``k``-th of ``n`` contiguous, near-equal ranges of ``range(total)`` (some empty when ``total < n``)."""
    if not 0 <= k < n:
        raise UserError(f"part {k} of {n}: the part must be in 0 to {n - 1}")
    return range(k * total // n, (k + 1) * total // n)


def parse_part(text: str) -> Tuple[int, int]:
    """``"k/n"`` (the CLI's ``--part``) -> ``(k, n)``."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--part takes k/n, e.g. 3/21 (the fourth of 21 parts); got {text!r}") from None
    part(0, k, n)  # checks the range
    return k, n
