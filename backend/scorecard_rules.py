"""Scorecard rules (Decree 335/2025/ND-CP, Decision 766/QĐ-TTg): pure functions, no I/O.

The services sum raw facts per subject (an official or a commune) and per procedure in SQL
and hand the sums here; everything that turns sums into points, bands, intervals, expected
values and ranks is in this module, table-tested in tests/test_scorecard_rules.py.

Components, each 0–100 with a 95 % interval:

* progress — the Decree's rule over the products due in the period: an on-time product
  earns its full points, each late product loses 25 % of its points, so
  progress = 100 × (on_time + 0.75 × late) / (on_time + late);
* processing — per dossier completed in the period, credit = clamp(2 − used, 0, 1) where
  used = working days taken / statutory working days: full credit within the statutory
  time, falling linearly to nothing at twice the statutory time;
* satisfaction — share of verified, counting ratings scored 4 or 5;
* feedback — share of forwarded feedback items due in the period answered by their deadline;
* online (communes only) — share of dossiers received online, when the one-stop shop
  reports the channel.

A component with no observations is "not applicable" and drops out; one with fewer than its
minimum sample is "insufficient" and drops out too. The composite is the weighted mean of the
components left, and is itself "insufficient data" when they carry less than the configured
share of the total weight — never a guess. Bands are advisory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from backend.indicators import Z95, wilson_interval
from backend.workdays import LOCAL_TZ, is_working_day

PeriodKind = Literal["month", "quarter"]
Band = Literal["excellent", "good", "completed", "not_completed"]
Status = Literal["ok", "insufficient", "not_applicable"]

LATE_PRODUCT_SHARE = 0.75  # a late product keeps 75 % of its progress points (Decree 335: −25 %)
COMPONENTS = ("progress", "processing", "satisfaction", "feedback", "online")


# ---------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind
    start: date  # first local day
    end: date  # first local day after the period

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start.year:04d}-{self.start.month:02d}"
        return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"

    @property
    def start_utc(self) -> datetime:
        return local_midnight_utc(self.start)

    @property
    def end_utc(self) -> datetime:
        return local_midnight_utc(self.end)


def local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def _first_of_next_month(day: date, months: int = 1) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(text: str) -> Period:
    """'2026-10' is a month, '2026-Q4' a quarter; ValueError for anything else."""
    text = text.strip()
    year_text, sep, rest = text.partition("-")
    if not sep or len(year_text) != 4 or not year_text.isdigit():
        raise ValueError(f"period {text!r}: expected YYYY-MM or YYYY-Qn")
    year = int(year_text)
    if not 2000 <= year <= 2100:
        raise ValueError(f"period {text!r}: year out of range")
    if len(rest) == 2 and rest[0] in "Qq" and rest[1] in "1234":
        start = date(year, 3 * (int(rest[1]) - 1) + 1, 1)
        return Period("quarter", start, _first_of_next_month(start, 3))
    if len(rest) == 2 and rest.isdigit() and 1 <= int(rest) <= 12:
        start = date(year, int(rest), 1)
        return Period("month", start, _first_of_next_month(start))
    raise ValueError(f"period {text!r}: expected YYYY-MM or YYYY-Qn")


def period_of(kind: PeriodKind, start: date) -> Period:
    if kind == "month":
        return Period("month", start, _first_of_next_month(start))
    return Period("quarter", start, _first_of_next_month(start, 3))


def periods_containing(day: date) -> tuple[Period, Period]:
    """The month and the quarter a local day belongs to."""
    month = date(day.year, day.month, 1)
    quarter = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return period_of("month", month), period_of("quarter", quarter)


def previous_month(day: date) -> Period:
    first = date(day.year, day.month, 1)
    return period_of("month", _first_of_next_month(first, -1))


def first_working_day(year: int, month: int) -> date:
    day = date(year, month, 1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def freezes_at(period: Period, freeze_days: int) -> datetime:
    """A period's scorecards become a record freeze_days local days after it ends."""
    return local_midnight_utc(period.end + timedelta(days=freeze_days))


# ---------------------------------------------------------------- working days


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days from the local day of ``start`` to that of ``end``, the first not counted
    (as add_working_days counts a due date): received Friday, completed Monday = 1."""
    first = start.astimezone(LOCAL_TZ).date()
    last = end.astimezone(LOCAL_TZ).date()
    count = 0
    day = first
    while day < last:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count


def working_day_index(first: date, last: date) -> list[int]:
    """Cumulative working days from ``first`` through ``last``, one element per day (``first``'s
    own count first): working days taken between two days d1 < d2 is index[d2] − index[d1],
    the same count as working_days_between. The SQL reads it as an array."""
    out, total, day = [], 0, first
    while day <= last:
        total += is_working_day(day)
        out.append(total)
        day += timedelta(days=1)
    return out


# ---------------------------------------------------------------- component maths


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    status: Status
    sample_size: int
    score: float | None = None  # 0–100
    ci_low: float | None = None
    ci_high: float | None = None


def _status(n: int, minimum: int) -> Status:
    if n <= 0:
        return "not_applicable"
    return "ok" if n >= minimum else "insufficient"


def decree_progress(on_time: int, late: int) -> float | None:
    """Progress points 0–100 by the Decree's rule: each late product costs 25 % of its points."""
    products = on_time + late
    if products <= 0:
        return None
    return 100.0 * (on_time + LATE_PRODUCT_SHARE * late) / products


def progress_component(on_time: int, late: int, minimum: int) -> Component:
    n = on_time + late
    score = decree_progress(on_time, late)
    interval = wilson_interval(late, n)
    if score is None or interval is None:
        return Component("progress", "not_applicable", 0)
    # Progress is 100 − 25 × (late share): the late share's Wilson bounds map onto it, reversed.
    low = 100.0 * (1 - (1 - LATE_PRODUCT_SHARE) * interval[1])
    high = 100.0 * (1 - (1 - LATE_PRODUCT_SHARE) * interval[0])
    return Component("progress", _status(n, minimum), n, score, low, high)


def rate_component(name: str, successes: int, n: int, minimum: int) -> Component:
    interval = wilson_interval(successes, n)
    if interval is None:
        return Component(name, "not_applicable", 0)
    return Component(name, _status(n, minimum), n, 100.0 * successes / n, 100.0 * interval[0], 100.0 * interval[1])


def processing_credit(working_days: int, statutory_days: int) -> float:
    """Credit of one completed dossier: 1 within the statutory time, 0 at twice it or more."""
    used = working_days / statutory_days
    return min(1.0, max(0.0, 2.0 - used))


def mean_interval(n: int, total: float, total_sq: float, low: float, high: float) -> tuple[float, float] | None:
    """Normal 95 % interval of a mean from n, Σx and Σx², clamped to [low, high]; None below 2."""
    if n < 2:
        return None
    mean = total / n
    variance = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = Z95 * math.sqrt(variance / n)
    return max(low, mean - half), min(high, mean + half)


def processing_component(n: int, credit_sum: float, credit_sq: float, minimum: int) -> Component:
    if n <= 0:
        return Component("processing", "not_applicable", 0)
    interval = mean_interval(n, credit_sum, credit_sq, 0.0, 1.0)
    low, high = interval if interval is not None else (0.0, 1.0)
    return Component("processing", _status(n, minimum), n, 100.0 * credit_sum / n, 100.0 * low, 100.0 * high)


# ---------------------------------------------------------------- composite and bands


def parse_weights(text: str, allowed: Sequence[str] = COMPONENTS) -> tuple[tuple[str, float], ...]:
    """'progress=40,satisfaction=30' → ((name, weight), ...); ValueError on anything odd."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in allowed:
            raise ValueError(f"unknown component {name!r} (known: {', '.join(allowed)})")
        if name in weights:
            raise ValueError(f"component {name!r} given twice")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"weight of {name!r} is not a number") from None
        if not 0 <= weight <= 1000 or math.isnan(weight):
            raise ValueError(f"weight of {name!r} must be from 0 to 1000")
        weights[name] = weight
    if sum(weights.values()) <= 0:
        raise ValueError("at least one weight must be positive")
    return tuple(weights.items())


@dataclass(frozen=True, slots=True)
class Composite:
    status: Literal["ok", "insufficient"]
    weight_share: float  # share of the total weight carried by components with enough data
    score: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    band: Band | None = None


def band(score: float) -> Band:
    """Decree 335's classification, advisory: ≥ 90, 70 to < 90, 50 to < 70, < 50."""
    if score >= 90:
        return "excellent"
    if score >= 70:
        return "good"
    if score >= 50:
        return "completed"
    return "not_completed"


def composite(
    components: Sequence[Component], weights: Sequence[tuple[str, float]], min_weight_share: float
) -> Composite:
    """Weighted mean of the components with enough data; its interval is the same weighted
    mean of their bounds (conservative: as if the components' errors ran together)."""
    weight_of = dict(weights)
    total = sum(weight_of.values())
    used = [(c, weight_of[c.name]) for c in components if c.status == "ok" and weight_of.get(c.name, 0) > 0]
    carried = sum(w for _, w in used)
    share = carried / total if total > 0 else 0.0
    if not used or share < min_weight_share:
        return Composite("insufficient", share)
    score = sum(c.score * w for c, w in used if c.score is not None) / carried
    low = sum((c.ci_low if c.ci_low is not None else c.score or 0.0) * w for c, w in used) / carried
    high = sum((c.ci_high if c.ci_high is not None else c.score or 0.0) * w for c, w in used) / carried
    return Composite("ok", share, score, low, high, band(score))


# ---------------------------------------------------------------- fair comparison


def expected_rate(mix: Mapping[str, int], reference: Mapping[str, tuple[int, int]]) -> float | None:
    """Indirect standardisation: the rate the unit would show if each of its procedures
    performed at the reference (province) rate — Σ n_j · p_j / Σ n_j over the unit's own
    procedure mix n_j, with p_j = successes_j / n_j in the reference. Procedures without a
    reference rate drop out. None when nothing is left."""
    weighted = 0.0
    count = 0
    for procedure, n in mix.items():
        successes, total = reference.get(procedure, (0, 0))
        if n <= 0 or total <= 0:
            continue
        weighted += n * successes / total
        count += n
    return weighted / count if count else None


def rank_intervals(items: Sequence[tuple[str, float, float]]) -> dict[str, tuple[int, int]]:
    """Ranks (1 = best, higher values better) as intervals: a unit is surely below those whose
    interval lies wholly above its own, and surely above those wholly below. Units whose
    intervals overlap share a range of ranks instead of an order nobody can vouch for.
    items: (key, ci_low, ci_high)."""
    ranks: dict[str, tuple[int, int]] = {}
    for key, low, high in items:
        above = sum(1 for other, o_low, _ in items if other != key and o_low > high)
        below = sum(1 for other, _, o_high in items if other != key and o_high < low)
        ranks[key] = (above + 1, len(items) - below)
    return ranks
