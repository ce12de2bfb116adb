"""Checks for numbers that arrive from the UI or the API: every demo validates its inputs with these.

Each raises ``ValueError`` with a sentence a learner understands (``shared.ui.friendly_errors`` shows it).
"""
from __future__ import annotations


def as_int(name: str, value, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]``; ``2.0`` is accepted, ``2.5``, text and ``None`` are not."""
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a whole number, not {value!r}.") from e
    if not number.is_integer() or not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value}.")
    return int(number)


def as_float(name: str, value, low: float, high: float) -> float:
    """``value`` as a float in ``[low, high]``; NaN, text and ``None`` are refused."""
    try:
        number = float(value)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a number, not {value!r}.") from e
    if not low <= number <= high:  # also rejects NaN
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value}.")
    return number
