"""Plain decimal numbers parsed straight from raw CSV bytes, with array arithmetic.

Coordinates in national CSV files are short plain decimals ("44.837789", "-0,57918").
For those, the digits are gathered into a fixed-width window and summed as one integer,
which is then divided by a power of ten. While the integer stays below 2**53 and the power
of ten is exact (≤ 10**22), that single IEEE division is correctly rounded: the result is
bit for bit what a full decimal parser (Arrow, polars, ``float()``) gives. Anything else
(exponents, spaces, signs in the middle, too many digits, not a number) is flagged for
the caller's general parser.
"""

from __future__ import annotations

from typing import Any

WIDTH = 16  # longest field handled here: sign, 15 digits (< 2**53) and a separator
_MAX_DIGITS = 15


def parse_decimals(arr: Any, start: Any, end: Any) -> tuple[Any, Any]:
    """(values, fallback) for the fields ``arr[start[i]:end[i]]``: float64 values, and a
    boolean mask of the fields that are not plain decimals (their value is NaN here and
    must be parsed by a general parser). Empty fields are NaN and not flagged."""
    import numpy as np

    n = start.size
    values = np.full(n, np.nan)
    length = end - start
    if n == 0:
        return values, np.zeros(0, dtype=bool)
    fits = (length > 0) & (length <= WIDTH)
    fallback = (length > WIDTH)
    rows = np.flatnonzero(fits)
    if rows.size == 0:
        return values, fallback
    s, ln = start[rows], length[rows]
    width = int(ln.max())
    # Column by column (one byte position of every field at a time): short vector
    # operations, no n × width temporaries.
    top = arr.size - 1
    mantissa = np.zeros(rows.size, dtype=np.int64)
    ndigits = np.zeros(rows.size, dtype=np.int64)
    decimals = np.zeros(rows.size, dtype=np.int64)
    seen_sep = np.zeros(rows.size, dtype=bool)
    plain = np.ones(rows.size, dtype=bool)
    negative = None
    for j in range(width):
        byte = arr[np.minimum(s + j, top)]
        present = ln > j
        value = byte - np.uint8(48)  # wraps around for bytes below '0'
        digit = (value <= 9) & present
        mantissa = np.where(digit, mantissa * 10 + value, mantissa)
        ndigits += digit
        decimals += digit & seen_sep
        separator = ((byte == 46) | (byte == 44)) & present
        plain &= ~(separator & seen_sep)
        seen_sep |= separator
        other = present & ~digit & ~separator
        if j == 0:
            negative = byte == 45
            other &= ~(negative | (byte == 43))
        plain &= ~other
    plain &= (ndigits >= 1) & (ndigits <= _MAX_DIGITS)
    parsed = mantissa / (10.0 ** decimals)
    parsed = np.where(negative, -parsed, parsed)
    values[rows[plain]] = parsed[plain]
    fallback[rows[~plain]] = True
    return values, fallback


def integer_bounds(arr: Any, start: Any, end: Any) -> tuple[Any, Any, Any]:
    """(low, high, plain): for each field that is a plain decimal with at most nine
    integer digits (``plain``), whole numbers with low ≤ value ≤ high, from its integer
    part alone. A cheap first pass: only values whose bounds meet an area of interest
    need :func:`parse_decimals`. Every byte of the field is checked, so that a field that
    is not a number is never taken for one; such fields, and empty ones, are not plain.
    One byte position of every field at a time, on small integer types."""
    import numpy as np

    n = start.size
    length = end - start
    plain = (length > 0) & (length <= 255)
    if n == 0 or not plain.any():
        zero = np.zeros(n, dtype=np.int32)
        return zero, zero, plain
    width = int(length[plain].max())
    # Fields whose window would run past the buffer (at most the last few records) go
    # to the general parser; the others are read through shifted views, no index sums.
    plain &= start + width <= arr.size
    s = np.where(plain, start, 0)
    ln = np.where(plain, length, 0).astype(np.uint8)
    integer = np.zeros(n, dtype=np.int32)
    int_digits = np.zeros(n, dtype=np.uint8)
    digits = np.zeros(n, dtype=np.uint8)
    seen_sep = np.zeros(n, dtype=bool)
    negative = np.zeros(n, dtype=bool)
    for j in range(width):
        byte = arr[j:][s]
        present = ln > j
        value = byte - np.uint8(48)  # wraps around for bytes below '0'
        digit = (value <= 9) & present
        separator = ((byte == 46) | (byte == 44)) & present
        other = present & ~(digit | separator)
        if j == 0:
            negative = byte == 45
            other &= ~(negative | (byte == 43))  # a sign may only come first
        plain &= ~(other | (separator & seen_sep))
        seen_sep |= separator
        whole = digit & ~seen_sep
        if whole.any():
            integer = np.where(whole, integer * 10 + value, integer)
            int_digits += whole
        digits += digit
    plain &= (digits >= 1) & (int_digits <= 9)
    low = np.where(negative, -integer - 1, integer)
    high = np.where(negative, -integer, integer + 1)
    return low, high, plain
