"""Which ratings look like part of a campaign: pure rules, no I/O.

A campaign leaves traces no single genuine citizen does: one install or one network address
rating the same official again and again within minutes, a wave of installs that rate within
minutes of being created, the same comment from many installs, a run of low scores far
outside what that official usually gets. Each trace alone has innocent explanations (a
family sharing a phone, a one-stop shop's public Wi-Fi, a first-time user rating at the
counter, a real bad week), so a rating is held only when the traces add up: each rule that
fires scores its weight (below) and a rating is held at HOLD_AT points. A verified rating
(sent with its dossier's rating code, which only the applicant holds) scores against
holding: a campaign cannot make those.

The ingest (backend.services.ratings) measures the signals in the statement that resolves a
batch and adds what the earlier items of the same batch contribute (BatchTally), so sending
a campaign as one batch hides nothing.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass

# Scores at or below this are "low" (1 and 2 of 5).
LOW_SCORE = 2
# Rules and their weights; a rating is held when the sum reaches HOLD_AT.
WEIGHTS: dict[str, int] = {
    "install_burst": 2,  # one install, the same target, again and again within minutes
    "copied_comment": 2,  # the same comment from several installs against the same target
    "address_burst": 1,  # many ratings of one target from one network address
    "fresh_install": 1,  # the install was created minutes before it rated
    "fresh_wave": 1,  # ... and other fresh installs rated the same target just now
    "low_run": 1,  # a run of low scores far outside the target's own baseline
    "verified": -2,  # proof of service: the applicant's rating code
}
HOLD_AT = 2
# Comments shorter than this (once folded) are too common to be evidence ("tốt", "ok").
COPY_MIN_CHARS = 20
# Below this many counted ratings in its baseline a target has no rate of its own to be
# within: the run's length alone (CampaignThresholds.low_run) decides.
BASELINE_MIN = 30
# How far above the expected number of low scores a run must be (Poisson, in standard deviations).
LOW_RUN_SIGMAS = 3.0


@dataclass(frozen=True)
class CampaignThresholds:
    burst_window: int = 600
    """Seconds looked back for bursts from one install or address and for fresh-install waves."""
    install_burst: int = 2
    """Earlier ratings of the same target by one install within burst_window that make a burst."""
    address_burst: int = 10
    """Earlier ratings of the same target from one address within burst_window that make a burst."""
    fresh_install: int = 900
    """An install that rates within this many seconds of its creation is fresh."""
    fresh_wave: int = 5
    """Ratings of the same target by fresh installs within burst_window that make a wave."""
    copies: int = 3
    """Other installs' ratings of the same target with the same comment (within low_run_window)."""
    low_run: int = 10
    """Low scores of one target within low_run_window before a run is considered at all."""
    low_run_window: int = 3600
    """Seconds looked back for a run of low scores and for copied comments."""
    baseline_days: int = 30
    """Days of a target's counted ratings (before the run) that make its baseline."""


@dataclass(frozen=True)
class Signals:
    """What was measured for one rating, before it is stored."""

    score: int
    verified: bool = False
    install_age: float = 1e9
    """Seconds from the install's creation to this rating."""
    install_recent: int = 0
    """This install's earlier ratings of the same target within burst_window."""
    address_recent: int = 0
    """Earlier ratings of the same target from the same address within burst_window."""
    fresh_recent: int = 0
    """Earlier ratings of the same target by fresh installs within burst_window."""
    comment_copies: int = 0
    """Earlier ratings of the same target by other installs with the same comment."""
    recent_low: int = 0
    """Earlier low scores of the target within low_run_window (held ones included)."""
    baseline_low: int = 0
    """Low scores among the target's counted ratings in its baseline (the baseline_days before
    the low-run window)."""
    baseline_total: int = 0


def is_fresh(install_age: float, t: CampaignThresholds) -> bool:
    return install_age < t.fresh_install


def low_run(s: Signals, t: CampaignThresholds) -> bool:
    """This low score continues a run far above the target's own rate of low scores: the low
    scores its baseline had per low-run window, plus LOW_RUN_SIGMAS standard deviations. A rate,
    not a share, so the ingest needs to count only the low ratings as they arrive."""
    if s.score > LOW_SCORE:
        return False
    low = s.recent_low + 1
    if low < t.low_run:
        return False
    if s.baseline_total < BASELINE_MIN:
        return True
    span = max(t.baseline_days * 86400 - t.low_run_window, t.low_run_window)
    expected = s.baseline_low * t.low_run_window / span
    return low > expected + LOW_RUN_SIGMAS * math.sqrt(max(expected, 1.0))


def fired(s: Signals, t: CampaignThresholds) -> tuple[str, ...]:
    """The rules this rating trips, in WEIGHTS order."""
    fresh = is_fresh(s.install_age, t)
    checks = {
        "install_burst": s.install_recent >= t.install_burst,
        "copied_comment": s.comment_copies >= t.copies,
        "address_burst": s.address_recent >= t.address_burst,
        "fresh_install": fresh,
        "fresh_wave": fresh and s.fresh_recent >= t.fresh_wave,
        "low_run": low_run(s, t),
        "verified": s.verified,
    }
    return tuple(rule for rule in WEIGHTS if checks[rule])


def points(rules: tuple[str, ...]) -> int:
    return sum(WEIGHTS[rule] for rule in rules)


def hold_reasons(s: Signals, t: CampaignThresholds) -> tuple[str, ...] | None:
    """The reasons to hold this rating for review, or None when it counts at once."""
    rules = fired(s, t)
    if points(rules) < HOLD_AT:
        return None
    return tuple(rule for rule in rules if WEIGHTS[rule] > 0)


def comment_key(comment: str | None) -> str | None:
    """What makes two comments "the same": letters and digits only, case and Vietnamese
    diacritics folded (people type with and without them), so spacing, punctuation and
    accents do not hide a copy. None for comments too short to be evidence."""
    if not comment:
        return None
    decomposed = unicodedata.normalize("NFD", comment.casefold().replace("đ", "d"))
    folded = "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))
    return folded if len(folded) >= COPY_MIN_CHARS else None


class BatchTally:
    """What the earlier items of one batch add to a later item's signals: the statement
    that measures them sees only what was stored before the batch."""

    def __init__(self, t: CampaignThresholds) -> None:
        self.t = t
        self.install: Counter[Hashable] = Counter()
        self.address: Counter[Hashable] = Counter()
        self.comment: Counter[Hashable] = Counter()
        self.low: Counter[Hashable] = Counter()
        self.fresh: Counter[Hashable] = Counter()

    def adjust(
        self, s: Signals, *, install: Hashable, target: Hashable, address: Hashable | None, comment: Hashable | None
    ) -> Signals:
        """The signals of the next item, counting the batch's earlier items."""
        # Other installs' copies only: an install repeating itself is an install burst.
        copies = (
            self.comment[(comment, target)] - self.comment[(comment, target, install)] if comment is not None else 0
        )
        return Signals(
            score=s.score,
            verified=s.verified,
            install_age=s.install_age,
            install_recent=s.install_recent + self.install[(install, target)],
            address_recent=s.address_recent + (self.address[(address, target)] if address is not None else 0),
            fresh_recent=s.fresh_recent + self.fresh[target],
            comment_copies=s.comment_copies + copies,
            recent_low=s.recent_low + self.low[target],
            baseline_low=s.baseline_low,
            baseline_total=s.baseline_total,
        )

    def add(
        self, s: Signals, *, install: Hashable, target: Hashable, address: Hashable | None, comment: Hashable | None
    ) -> None:
        """Count an item that will be stored."""
        self.install[(install, target)] += 1
        if address is not None:
            self.address[(address, target)] += 1
        if comment is not None:
            self.comment[(comment, target)] += 1
            self.comment[(comment, target, install)] += 1
        self.low[target] += s.score <= LOW_SCORE
        self.fresh[target] += is_fresh(s.install_age, self.t)
