"""Big changes, uncertain sizes: how much could generative AI add to output in ten years?

A task-based estimate in the spirit of Acemoglu (2024, "The Simple Macroeconomics of AI"): the gain in total
factor productivity over ten years is the product of three shares,

    gain = exposure x adoption x saving

- exposure: the share of all work (by wage value) that AI can do or speed up (Eloundou et al. 2023);
- adoption: the share of exposed work where using AI pays off and is adopted within ten years;
- saving: the average cost saved on a task once AI does it.

Each input is uncertain, so each is drawn from a range (log-uniform between its low and high value) and the
product is computed for every draw (Monte Carlo). A product of uncertain factors spreads multiplicatively: the
interval of the result is wider, in ratio, than any one input's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared import limits
from shared.checks import as_float, as_int

FACTORS = ("exposure", "adoption", "saving")
HORIZON_YEARS = 10

# Published headline figures, drawn on the result for comparison: (label, ten-year gain in percent).
HEADLINES = (
    ("Acemoglu 2024: TFP +0.66%", 0.66),
    ("Goldman Sachs 2023: GDP +7%", 7.0),
)


@dataclass(frozen=True)
class Range:
    """An input's plausible range, in percent; ``low == high`` means known exactly."""

    low_pct: float
    high_pct: float


@dataclass(frozen=True)
class Forecast:
    """The simulated ten-year gains in percent ``(draws,)`` and a summary of them."""

    gains_pct: np.ndarray
    median_pct: float
    low_pct: float  # 5th percentile
    high_pct: float  # 95th percentile
    variance_shares: dict[str, float]  # each input's share of the variance of log(gain)

    @property
    def annual_median_pct(self) -> float:
        """The median gain as a yearly growth rate, compounded over ``HORIZON_YEARS``."""
        return 100 * ((1 + self.median_pct / 100) ** (1 / HORIZON_YEARS) - 1)


def check_range(name: str, low, high) -> Range:
    """A :class:`Range` from raw UI values (percent, 0.1 .. 100), or ``ValueError`` with a sentence."""
    low = as_float(f"The low {name}", low, 0.1, 100.0)
    high = as_float(f"The high {name}", high, 0.1, 100.0)
    if low > high:
        raise ValueError(f"The low {name} ({low:g}%) is above the high one ({high:g}%): swap them.")
    return Range(low, high)


def draw_log_uniform(rng: np.random.Generator, r: Range, n: int) -> np.ndarray:
    """``n`` draws, as fractions, spread evenly in log space between ``r.low_pct`` and ``r.high_pct``."""
    return np.exp(rng.uniform(np.log(r.low_pct / 100), np.log(r.high_pct / 100), size=n))


def simulate(ranges: dict[str, Range], draws: int = limits.FORECAST_DRAWS, seed: int = 0) -> Forecast:
    """Monte Carlo of ``gain = exposure x adoption x saving`` over :data:`FACTORS`.

    Args:
        ranges: one :class:`Range` per name in :data:`FACTORS`.
        draws: how many joint draws (1,000 .. ``limits.FORECAST_DRAWS``); the inputs are drawn independently.
        seed: the generator's seed; the same inputs and seed give the same result.
    Returns:
        A :class:`Forecast`. Each input's variance share is exact for log-uniform draws: the variance of the
        log of a product of independent factors is the sum of theirs, ``(ln high - ln low)^2 / 12`` each.
    Raises:
        ValueError: a missing input or ``draws`` out of range.
    """
    missing = [f for f in FACTORS if f not in ranges]
    if missing:
        raise ValueError(f"Give a range for: {', '.join(missing)}.")
    draws = as_int("Draws", draws, 1_000, limits.FORECAST_DRAWS)
    rng = np.random.default_rng(seed)
    gains = np.ones(draws)
    for name in FACTORS:
        gains *= draw_log_uniform(rng, ranges[name], draws)
    gains_pct = 100 * gains
    log_variances = {f: np.log(ranges[f].high_pct / ranges[f].low_pct) ** 2 / 12 for f in FACTORS}
    total = sum(log_variances.values())
    shares = {f: (v / total if total > 0 else 0.0) for f, v in log_variances.items()}
    low, median, high = np.percentile(gains_pct, [5, 50, 95])
    return Forecast(gains_pct, float(median), float(low), float(high), shares)


# Presets (low %, high %) per input. The points the papers use sit inside; the ranges are the course's, to show
# how uncertainty spreads. Goldman Sachs's method differs (displacement and re-employment); its preset picks
# inputs whose product is its 7% headline.
PRESETS = {
    "Acemoglu 2024 (modest)": {   # 19.9% exposed, 23% profitable to adopt, 14.4% average cost saving -> 0.66%
        "exposure": Range(15, 25), "adoption": Range(15, 35), "saving": Range(10, 20)},
    "Goldman Sachs 2023 (optimistic)": {  # a quarter of work automatable, wide adoption, ~28% saving -> ~7%
        "exposure": Range(20, 30), "adoption": Range(80, 100), "saving": Range(25, 40)},
    "Eloundou 2023 with tools (wide)": {  # 15% of tasks exposed alone, 47-56% with LLM-powered software
        "exposure": Range(15, 56), "adoption": Range(10, 60), "saving": Range(10, 40)},
}
