"""Commune codes as small integers, so millions of rows are classified with array lookups.

A five-character code maps to a key: "01001".."99999" to their integer value (a four-digit
code that lost its leading zero maps to the same key as its padded form), "2A001".."2B999"
(Corsica) to 100000 + 1000 * (B) + number. Any other value has no key (-1) and goes through
the referential one by one.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

KEY_SPACE = 102_000


class Referential(Protocol):
    def is_known_code(self, code: str, *, pad: bool = True) -> bool: ...
    def current_commune(self, code: str, *, pad: bool = True) -> Any: ...
    def normalise_code(self, code: str, *, pad: bool = True) -> str: ...


def code_key(code: str) -> int:
    if len(code) == 4 and code.isdigit():
        return int(code)
    if len(code) != 5:
        return -1
    if code.isdigit():
        return int(code)
    if code[:2] in ("2A", "2B", "2a", "2b") and code[2:].isdigit():
        return 100_000 + (1000 if code[1] in "Bb" else 0) + int(code[2:])
    return -1


def key_code(key: int) -> str:
    if key < 100_000:
        return f"{key:05d}"
    rest = key - 100_000
    return ("2B" if rest >= 1000 else "2A") + f"{rest % 1000:03d}"


class CodeClassifier:
    """Tells, for commune codes met in data, whether they are known and in the perimeter."""

    def __init__(self, referential: Referential, perimeter_codes: frozenset[str] | set[str],
                 current_codes: tuple[str, ...] | frozenset[str] | None = None) -> None:
        import numpy as np

        self.ref = referential
        self.status = np.zeros(KEY_SPACE, dtype=np.uint8)  # 0 unseen, 1 known, 2 unknown
        self.inside = np.zeros(KEY_SPACE, dtype=bool)
        self.current = np.zeros(KEY_SPACE, dtype=bool)
        for code in perimeter_codes:
            k = code_key(code)
            if k >= 0:
                self.inside[k] = True
        self.current_codes = frozenset(current_codes) if current_codes else None
        if current_codes:
            for code in current_codes:
                k = code_key(code)
                if k >= 0:
                    self.current[k] = True
        self.perimeter_codes = frozenset(perimeter_codes)
        self._odd: dict[str, tuple[int, bool]] = {}
        self._communes: dict[str, Any] = {}

    def learn(self, keys: np.ndarray) -> None:
        import numpy as np

        fresh = keys[self.status[keys] == 0]
        if not fresh.size:
            return
        known = getattr(self.ref, "known", None)  # the perimeter cache's key table
        if isinstance(known, np.ndarray) and known.shape == self.status.shape:
            self.status[fresh] = np.where(known[fresh], 1, 2)
            return
        for k in np.unique(fresh).tolist():
            self.status[k] = 1 if self.ref.is_known_code(key_code(k)) else 2

    def classify_text(self, value: str) -> tuple[int, bool, str]:
        """(key or -1, known, normalised code) for a value that did not fit the fast path."""
        hit = self._odd.get(value)
        if hit is not None:
            return hit[0], hit[1], value
        try:
            norm = self.ref.normalise_code(value.strip())
        except (ValueError, TypeError):
            norm = value.strip()
        key = code_key(norm)
        known = bool(norm) and self.ref.is_known_code(norm)
        if len(self._odd) < 100_000:
            self._odd[value] = (key, known)
        return key, known, norm

    def is_inside_text(self, norm: str, key: int) -> bool:
        if key >= 0:
            return bool(self.inside[key])
        return norm in self.perimeter_codes

    def commune(self, code: str) -> Any:
        if code not in self._communes:
            self._communes[code] = self.ref.current_commune(code)
        return self._communes[code]

    def count_former(self, codes: list[str]) -> int:
        """How many of ``codes`` are not current commune codes (rows remapped)."""
        from collections import Counter

        return sum(n for code, n in Counter(codes).items() if not self.is_current(code))

    def is_current(self, code: str) -> bool:
        if self.current_codes is None:
            com = self.commune(code)
            return com is not None and com.code == code
        return code in self.current_codes


def keys_from_bytes(
    arr: np.ndarray, start: np.ndarray, length: np.ndarray, *, sliced: bool
) -> np.ndarray:
    """Keys of fields ``arr[start:start+length]``; -1 where a field is not a plain code.

    With ``sliced`` the code is the first five characters of a longer identifier.
    """
    import numpy as np

    n = start.shape[0]
    keys = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return keys
    idx = start[:, None] + np.arange(5)
    np.minimum(idx, arr.shape[0] - 1, out=idx)
    d = arr[idx] - np.uint8(48)  # digits become 0..9, anything else >= 10 (uint8 wraps)
    isdig = d <= 9
    five = length >= 5 if sliced else length == 5
    ok5 = five & isdig.all(axis=1)
    val5 = d.astype(np.int32) @ np.array([10000, 1000, 100, 10, 1], dtype=np.int32)
    keys[ok5] = val5[ok5]
    rest = ~ok5
    if not rest.any():
        return keys
    # Corsica: 2A/2B (either case) then three digits.
    m1 = d[:, 1] + np.uint8(48)
    letter = (m1 | np.uint8(32))
    corsica = rest & five & (d[:, 0] == 2) & ((letter == 97) | (letter == 98)) & isdig[
        :, 2:].all(axis=1)
    if corsica.any():
        ck = 100_000 + np.where(letter == 98, 1000, 0) + (
            d[:, 2].astype(np.int32) * 100 + d[:, 3] * 10 + d[:, 4])
        keys[corsica] = ck[corsica]
    if not sliced:
        four = rest & (length == 4) & isdig[:, :4].all(axis=1)
        if four.any():
            val4 = d[:, :4].astype(np.int32) @ np.array([1000, 100, 10, 1], dtype=np.int32)
            keys[four] = val4[four]
    return keys


def count_unknown(keys: np.ndarray, mask: np.ndarray) -> Counter[str]:
    import numpy as np

    sel = keys[mask]
    counts: Counter[str] = Counter()
    if sel.size:
        uniq, cnt = np.unique(sel, return_counts=True)
        for k, c in zip(uniq.tolist(), cnt.tolist(), strict=True):
            counts[key_code(k)] += c
    return counts
