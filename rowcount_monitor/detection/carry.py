"""The "state" model's filter carried from one check of a table to the next.

A verdict walks the filter over the whole window a check reads (eight weeks of hourly buckets:
about 1,300 steps). A check that keeps the filter's state after an earlier bucket steps from
there instead: a few dozen steps. The state is kept a cycle of the shortest period behind the
newest bucket (`kept_behind`), so the buckets a late-row recount may change, and the ones the
M-of-N rule looks back on, are walked again every time.

A state is used only where it is the state the same walk would reach: the same code, policy,
spacing and count model (its `key`), a position inside the window the check reads and before
every bucket it must judge, and the same counts over the longest period before that position
(`tail`: a backfilled gap or a corrected count there makes it stale). Anything else walks the
window from its start, as a check without a state does. Counts before the tail that change
later are not seen: the state goes on with what it learned from them.

A carried verdict therefore rests on all the history since the table's first state, not only
on the window: the same judgement `score_series` gives over that history. A state is a pickle:
it is read back only from the deployment's own database (the history cache), never from input.
"""

from __future__ import annotations

import hashlib
import pickle
import types
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .model.filter import Carried

# The layout of what `pack` writes.
STATE_VERSION = 1


def _code_digest() -> str:
    """A digest of the model's code and constants: a state is resumed only by the code that took
    it (an upgrade walks each window once, instead of resuming objects of another shape)."""
    from .model import calendar_effects, filter, level, noise, profile

    digest = hashlib.sha256()

    def add(code: types.CodeType) -> None:
        digest.update(code.co_code + repr(code.co_names).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                add(const)
            else:  # a set's order varies with the process's string hashing
                digest.update(repr(sorted(map(repr, const)) if isinstance(const, frozenset) else const).encode())

    for module in (calendar_effects, filter, level, noise, profile):
        for name, value in sorted(vars(module).items()):
            if isinstance(value, int | float | str | tuple) and name.isupper():
                digest.update(f"{name}={value!r}".encode())
            members = vars(value).values() if isinstance(value, type) and value.__module__ == module.__name__ else ()
            for member in (value, *members):
                if isinstance(member, types.FunctionType) and member.__module__ == module.__name__:
                    add(member.__code__)
    return digest.hexdigest()


_CODE = _code_digest()


@dataclass
class Carry:
    """A check's carried state: what it resumes from (`state`, None: none) and what it keeps."""

    state: bytes | None
    kept: bytes | None = None


def state_key(policy: object, spacing: pd.Timedelta, counts: bool, periods: tuple[int, ...]) -> str:
    """What a state must have been computed under to be used: the policy, the grid, the model."""
    return hashlib.sha256(repr((_CODE, policy, str(spacing), counts, periods)).encode()).hexdigest()


def origin_of(times: pd.DatetimeIndex, spacing: pd.Timedelta) -> int:
    """The absolute bucket number of a grid's first position (buckets since 1970)."""
    return int((times[0] - pd.Timestamp(0)) // spacing)


def kept_behind(periods: tuple[int, ...]) -> int:
    """Buckets between the newest one and the state kept: a cycle of the shortest period."""
    return min(periods) if periods else 7


def pack(key: str, values: np.ndarray, origin: int, at: int, kept: bytes, tail: int) -> bytes:
    """A state to keep: `kept` (the filter's Carried after grid position `at`, pickled), with the
    key and the last `tail` counts it learned from, which a later check compares with its own."""
    return pickle.dumps((STATE_VERSION, key, origin + at, values[max(0, at + 1 - tail) : at + 1].copy(), kept))


def resumable(state: bytes | None, key: str, values: np.ndarray, origin: int, first_judged: int) -> Carried | None:
    """The filter state to resume from on a grid of `values` starting at `origin`, or None where
    `state` is missing, of another key, outside the grid, after `first_judged` (the first grid
    position to judge), or taken from counts that have changed since."""
    if state is None:
        return None
    try:
        version, stored_key, through, tail, kept = pickle.loads(state)
        at = through - origin
        if version != STATE_VERSION or stored_key != key or not (0 <= at < first_judged) or at >= len(values):
            return None
        seen = min(len(tail), at + 1)
        if not np.array_equal(values[at + 1 - seen : at + 1], tail[len(tail) - seen :], equal_nan=True):
            return None
        carried = pickle.loads(kept)
    except Exception:  # not a state of this layout: walk the window instead
        return None
    return carried if isinstance(carried, Carried) else None
