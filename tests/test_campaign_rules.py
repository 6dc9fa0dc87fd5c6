"""The campaign rules as tables: pure functions, no database."""

from __future__ import annotations

import pytest

from backend.campaign_rules import (
    HOLD_AT,
    BatchTally,
    CampaignThresholds,
    Signals,
    comment_key,
    fired,
    hold_reasons,
    low_run,
    points,
)

T = CampaignThresholds()
OLD = 30 * 86400.0  # an install a month old
FRESH = 60.0  # an install a minute old


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        # A lone genuine rating, old or new install, good or bad: counts.
        (Signals(score=1, install_age=OLD), None),
        (Signals(score=5, install_age=FRESH), None),
        (Signals(score=1, install_age=FRESH), None),
        # One install hammering one target: held on that alone.
        (Signals(score=1, install_age=OLD, install_recent=2), ("install_burst",)),
        (Signals(score=5, install_age=OLD, install_recent=2), ("install_burst",)),
        (Signals(score=1, install_age=OLD, install_recent=1), None),
        # ... unless each rating proves a served dossier.
        (Signals(score=1, install_age=OLD, install_recent=2, verified=True), None),
        # A busy shared address alone is not enough (a one-stop shop's Wi-Fi) ...
        (Signals(score=1, install_age=OLD, address_recent=50), None),
        # ... with a fresh install it is.
        (Signals(score=1, install_age=FRESH, address_recent=10), ("address_burst", "fresh_install")),
        (Signals(score=1, install_age=FRESH, address_recent=9), None),
        # A wave of fresh installs against one target.
        (Signals(score=1, install_age=FRESH, fresh_recent=5), ("fresh_install", "fresh_wave")),
        (Signals(score=1, install_age=FRESH, fresh_recent=4), None),
        # The wave does not touch an old install rating in the middle of it.
        (Signals(score=5, install_age=OLD, fresh_recent=40), None),
        (Signals(score=1, install_age=OLD, fresh_recent=40), None),
        # The same comment from other installs against the same target.
        (Signals(score=1, install_age=OLD, comment_copies=3), ("copied_comment",)),
        (Signals(score=1, install_age=OLD, comment_copies=2), None),
        # A run of low scores: alone it is news, not a campaign; with a fresh install it is held.
        (Signals(score=1, install_age=OLD, recent_low=30), None),
        (Signals(score=1, install_age=FRESH, recent_low=30), ("fresh_install", "low_run")),
        # A verified rating in a genuine drop from a busy office: counts.
        (
            Signals(score=1, install_age=OLD, verified=True, address_recent=40, recent_low=40),
            None,
        ),
        # Everything at once, verified or not: held, reasons in rule order.
        (
            Signals(
                score=1,
                install_age=FRESH,
                install_recent=3,
                comment_copies=5,
                address_recent=20,
                fresh_recent=20,
                recent_low=100,
                verified=True,
            ),
            ("install_burst", "copied_comment", "address_burst", "fresh_install", "fresh_wave", "low_run"),
        ),
    ],
)
def test_hold_reasons(signals: Signals, expected: tuple[str, ...] | None) -> None:
    assert hold_reasons(signals, T) == expected


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        # Too few low scores in the window to be a run at all.
        (Signals(score=1, recent_low=8), False),
        (Signals(score=1, recent_low=9), True),  # the 10th low score within the hour, no baseline
        # Good scores never continue a run.
        (Signals(score=3, recent_low=50), False),
        (Signals(score=2, recent_low=50), True),
        # Within what the target usually gets: 7,190 low scores in 30 days less an hour is
        # 10 an hour; up to 19 within an hour (this one included) is within 10 + 3 x sqrt(10).
        (Signals(score=1, recent_low=11, baseline_low=7190, baseline_total=20000), False),
        (Signals(score=1, recent_low=18, baseline_low=7190, baseline_total=20000), False),
        (Signals(score=1, recent_low=19, baseline_low=7190, baseline_total=20000), True),
        # Far outside a target rarely rated low (20 low scores a month).
        (Signals(score=1, recent_low=11, baseline_low=20, baseline_total=1000), True),
        # A thin baseline (under 30 counted ratings) has no rate of its own: the run's length decides.
        (Signals(score=1, recent_low=9, baseline_low=29, baseline_total=29), True),
        (Signals(score=1, recent_low=8, baseline_low=29, baseline_total=29), False),
    ],
)
def test_low_run(signals: Signals, expected: bool) -> None:
    assert low_run(signals, T) is expected


def test_thresholds_are_the_settings() -> None:
    strict = CampaignThresholds(install_burst=1, fresh_install=3600, copies=1)
    s = Signals(score=4, install_age=1800, install_recent=1, comment_copies=1)
    assert hold_reasons(s, T) is None
    assert hold_reasons(s, strict) == ("install_burst", "copied_comment", "fresh_install")


def test_points_and_weights() -> None:
    assert points(()) == 0 < HOLD_AT
    assert points(("fresh_install", "fresh_wave")) == HOLD_AT
    assert points(("install_burst", "verified")) == 0
    assert fired(Signals(score=5, verified=True), T) == ("verified",)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Cán bộ thiếu trách nhiệm, hẹn lên hẹn xuống!", "can bo thieu trach nhiem hen len hen xuong", True),
        ("CÁN BỘ   thiếu trách nhiệm. Hẹn lên, hẹn xuống", "Cán bộ thiếu trách nhiệm hẹn lên hẹn xuống", True),
        ("Đi lại nhiều lần mà không được giải quyết", "Di lai nhieu lan ma khong duoc giai quyet", True),
        ("Cán bộ thiếu trách nhiệm, hẹn lên hẹn xuống", "Cán bộ nhiệt tình, hướng dẫn rất chu đáo", False),
    ],
)
def test_comment_key_folds_case_spacing_punctuation_and_diacritics(a: str, b: str, same: bool) -> None:
    assert comment_key(a) is not None
    assert (comment_key(a) == comment_key(b)) is same


@pytest.mark.parametrize("short", [None, "", "Tốt", "Rất tốt, cảm ơn!", "   !!! ... ???   "])
def test_short_comments_are_no_evidence(short: str | None) -> None:
    assert comment_key(short) is None


def test_a_batch_counts_its_own_earlier_items() -> None:
    """A campaign sent as one batch: the statement saw none of it, the tally sees it all."""
    tally = BatchTally(T)
    verdicts = []
    for n in range(12):
        install = f"i{n // 4}"  # three installs, four ratings each
        keys = {"install": install, "target": 7, "address": b"a", "comment": "samecomment" * 2}
        measured = tally.adjust(Signals(score=1, install_age=FRESH), **keys)
        verdicts.append(hold_reasons(measured, T))
        tally.add(measured, **keys)
    # The first two ratings of the first install look like one fresh citizen: they count.
    assert verdicts[:2] == [None, None]
    # Its third rating of the same target is an install burst.
    assert verdicts[2] == ("install_burst", "fresh_install")
    # The second install's first rating sees the first's four copies of the comment ...
    assert verdicts[4] == ("copied_comment", "fresh_install")
    # ... and from the sixth fresh rating on, a wave.
    assert verdicts[5] is not None and "fresh_wave" in verdicts[5]
    assert all(v is not None for v in verdicts[2:])
    # An install repeating its own comment is not "copies" (that is the install burst).
    own = BatchTally(T)
    keys = {"install": "x", "target": 7, "address": None, "comment": "c"}
    for _ in range(5):
        own.add(Signals(score=1, install_age=OLD), **keys)
    assert own.adjust(Signals(score=1, install_age=OLD), **keys).comment_copies == 0
    assert own.adjust(Signals(score=1, install_age=OLD), **{**keys, "install": "y"}).comment_copies == 5
    # Other targets are untouched.
    assert own.adjust(Signals(score=1, install_age=OLD), **{**keys, "target": 8}).install_recent == 0
