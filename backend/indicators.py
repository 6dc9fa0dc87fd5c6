"""Indicator maths over rollup sums: rates with Wilson intervals, means with normal
intervals, percentiles from the processing-time histogram.

Pure: the services read sums from the rollups and hand them here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from schemas.indicators import DimensionMeans, IndicatorValues, Measure

Z95 = 1.959963984540054
# Processing-time buckets, as in migrations/0009 processing_bucket(): bucket 0 holds times
# under 15 minutes, bucket i >= 1 those from BUCKET_BASE * BUCKET_RATIO**(i-1) seconds.
BUCKET_BASE = 900.0
BUCKET_RATIO = 1.25
BUCKETS = 64
SATISFIED_FROM = 4
DIMENSIONS = ("access", "procedure", "attitude", "result", "timeliness")


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None without observations.

    Unlike p ± z·se it stays inside [0, 1] and is honest for small n: 3 bad ratings out of 3
    give [0, 0.56], not a certain zero."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0))
    denominator = 1 + z2 / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def rate(successes: int, n: int) -> Measure:
    interval = wilson_interval(successes, n)
    if interval is None:
        return Measure(sample_size=0)
    return Measure(value=successes / n, sample_size=n, ci_low=interval[0], ci_high=interval[1])


def score_mean(counts: Sequence[int]) -> Measure:
    """Mean of 1–5 scores from their counts, with a 95 % normal interval (from two scores on)."""
    n = sum(counts)
    if n <= 0:
        return Measure(sample_size=0)
    mean = sum(score * c for score, c in enumerate(counts, start=1)) / n
    if n < 2:
        return Measure(value=mean, sample_size=n)
    variance = sum(c * (score - mean) ** 2 for score, c in enumerate(counts, start=1)) / (n - 1)
    half = Z95 * math.sqrt(variance / n)
    return Measure(value=mean, sample_size=n, ci_low=max(1.0, mean - half), ci_high=min(5.0, mean + half))


def plain_mean(total: int, n: int) -> Measure:
    return Measure(value=total / n, sample_size=n) if n > 0 else Measure(sample_size=0)


def processing_bucket(seconds: float) -> int:
    if seconds < BUCKET_BASE:
        return 0
    return min(BUCKETS - 1, 1 + math.floor(math.log(seconds / BUCKET_BASE) / math.log(BUCKET_RATIO)))


def bucket_bounds(bucket: int) -> tuple[float, float | None]:
    """[low, high) in seconds; the last bucket has no upper edge."""
    if bucket == 0:
        return 0.0, BUCKET_BASE
    low = BUCKET_BASE * BUCKET_RATIO ** (bucket - 1)
    return low, None if bucket == BUCKETS - 1 else low * BUCKET_RATIO


def histogram_quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile in seconds, interpolated linearly inside its bucket (as Prometheus
    does); within 25 % of the true value by construction, usually much closer."""
    total = sum(c for c in histogram.values() if c > 0)
    if total <= 0:
        return None
    target = q * total
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if count <= 0:
            continue
        if seen + count >= target:
            low, high = bucket_bounds(bucket)
            if high is None:
                return low
            return low + (high - low) * (target - seen) / count
        seen += count
    return None


@dataclass
class Sums:
    """What the rollups hold for one scope and window."""

    ratings: int = 0
    satisfied: int = 0
    verified: int = 0
    score_sum: int = 0
    score_counts: list[int] = field(default_factory=lambda: [0] * 5)
    dim_sums: list[int] = field(default_factory=lambda: [0] * 5)
    dim_counts: list[int] = field(default_factory=lambda: [0] * 5)
    completed_on_time: int = 0
    completed_late: int = 0
    processing: dict[int, int] = field(default_factory=dict)
    feedback_backlog: int = 0
    feedback_overdue: int = 0
    answered_on_time: int = 0
    answered_late: int = 0
    answers_rated: int = 0
    answers_satisfied: int = 0
    answer_times: dict[int, int] = field(default_factory=dict)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def indicator_values(sums: Sums) -> IndicatorValues:
    """Every indicator of a scope and window, each with its sample size."""
    processed = sum(c for c in sums.processing.values() if c > 0)
    median = _hours(histogram_quantile(sums.processing, 0.5))
    p90 = _hours(histogram_quantile(sums.processing, 0.9))
    return IndicatorValues(
        satisfaction_rate=rate(sums.satisfied, sums.ratings),
        mean_score=score_mean(sums.score_counts),
        dimensions=DimensionMeans(
            **{
                name: plain_mean(total, n)
                for name, total, n in zip(DIMENSIONS, sums.dim_sums, sums.dim_counts, strict=True)
            }
        ),
        volume=sums.ratings,
        verified_share=rate(sums.verified, sums.ratings),
        on_time_rate=rate(sums.completed_on_time, sums.completed_on_time + sums.completed_late),
        processing_median_hours=Measure(value=median, sample_size=processed),
        processing_p90_hours=Measure(value=p90, sample_size=processed),
        feedback_backlog=sums.feedback_backlog,
        feedback_overdue=sums.feedback_overdue,
        feedback_answered_on_time=rate(sums.answered_on_time, sums.answered_on_time + sums.answered_late),
        feedback_answer_median_hours=Measure(
            value=_hours(histogram_quantile(sums.answer_times, 0.5)),
            sample_size=sum(c for c in sums.answer_times.values() if c > 0),
        ),
        feedback_answer_satisfaction=rate(sums.answers_satisfied, sums.answers_rated),
    )
