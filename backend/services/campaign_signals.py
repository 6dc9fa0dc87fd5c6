"""Measuring a rating batch for campaign traces, inside the ingest's own statements.

The rating ingest (backend.services.ratings) resolves each round of a batch with one SELECT
and stores it with one INSERT. The campaign signals ride along: RESOLVE_SIGNALS adds a few
lateral probes to the SELECT (each bounded: an index range cut off after a few rows, or the
minute rows of one target), and STORE_ACTIVITY keeps the per-target minute counts in the
INSERT's own statement. No extra round trip per rating or per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.campaign_rules import LOW_SCORE, BatchTally, CampaignThresholds, Signals, comment_key, hold_reasons
from backend.client_address import UNKNOWN
from backend.crypto import Fingerprints
from backend.services.campaign_baselines import STALE_AFTER

ADDRESS_PURPOSE = "rating-address"
COMMENT_PURPOSE = "rating-comment"
# Digests are cut to 16 bytes: plenty against collisions among the ratings of one target in
# an hour, and half the index.
DIGEST_BYTES = 16
# An install's latest ratings looked at for a burst: bounded even with the daily limit lifted.
INSTALL_LOOKBACK = 50
# Probes stop counting here: every threshold is far below.
PROBE_CAP = 100
STALE_SQL = f"interval '{int(STALE_AFTER.total_seconds())} seconds'"


def address_digest(fingerprints: Fingerprints, address: str | None) -> bytes | None:
    """Keyed digest of the client's network address (the address itself is never stored)."""
    if not address or address == UNKNOWN:
        return None
    return fingerprints.sign(ADDRESS_PURPOSE, address.encode())[:DIGEST_BYTES]


def comment_digest(fingerprints: Fingerprints, comment: str | None) -> bytes | None:
    """Keyed digest of the comment's folded form (comment_key); None for short comments."""
    key = comment_key(comment)
    return None if key is None else fingerprints.sign(COMMENT_PURPOSE, key.encode())[:DIGEST_BYTES]


@dataclass(frozen=True)
class ScoringWindow:
    """The instants a round's probes look back to, and the thresholds."""

    thresholds: CampaignThresholds
    now: datetime

    def args(self) -> list[Any]:
        t = self.thresholds
        return [
            self.now - timedelta(seconds=t.burst_window),
            self.now - timedelta(seconds=t.low_run_window),
            self.now - timedelta(days=t.baseline_days),
            t.low_run,
            self.now,
        ]


# Columns added to the resolving SELECT; the probes run only when scoring is on ($13).
# $10 scores, $11 address digests, $12 comment digests, $14 burst start, $15 run start,
# $16 baseline start, $17 low-run minimum, $18 now. `tg.target` is the official answering for
# the service, else the service (rating_target, migration 0029).
RESOLVE_SIGNAL_COLUMNS = """,
       tg.target, extract(epoch from $18::timestamptz - ci.created_at)::float8 as install_age,
       coalesce(sig.install_recent, 0) as install_recent, coalesce(sig.address_recent, 0) as address_recent,
       coalesce(sig.comment_copies, 0) as comment_copies,
       coalesce(act.low, 0) as recent_low,
       coalesce(act.fresh, 0) as fresh_recent,
       coalesce(base.total, 0) as baseline_total, coalesce(base.low, 0) as baseline_low"""

RESOLVE_SIGNAL_JOINS = f"""
cross join lateral (select rating_target(a.official_id, s.id) as target) tg
left join lateral (
    select
        (select count(*) from (select x.official_id, x.commune_service_id from ratings x
                               where x.citizen_id = i.citizen_id and x.created_at >= $14
                               order by x.created_at desc limit {INSTALL_LOOKBACK}) y
         where rating_target(y.official_id, y.commune_service_id) = tg.target)::int as install_recent,
        (select count(*) from (select 1 from ratings x
                               where x.address_digest = i.address and x.created_at >= $14
                                 and rating_target(x.official_id, x.commune_service_id) = tg.target
                               limit {PROBE_CAP}) y)::int as address_recent,
        (select count(*) from (select 1 from ratings x
                               where x.comment_digest = i.comment and x.created_at >= $15
                                 and rating_target(x.official_id, x.commune_service_id) = tg.target
                                 and x.citizen_id <> i.citizen_id
                               limit {PROBE_CAP}) y)::int as comment_copies
    where $13 and tg.target is not null
) sig on true
left join lateral (
    select sum(v.low)::int as low,
           coalesce(sum(v.fresh) filter (where v.minute >= date_trunc('minute', $14::timestamptz)), 0)::int as fresh
    from rating_activity v
    where $13 and v.target = tg.target and v.minute >= date_trunc('minute', least($14::timestamptz, $15::timestamptz))
) act on true
cross join (
    select (select r.through from rating_baseline_runs r
            where r.through <= $15::timestamptz and r.through > $15::timestamptz - {STALE_SQL}) as through
) bl
left join lateral (
    select sum(b.ratings)::int as total, sum(b.low)::int as low
    from (select cb.ratings, cb.low from rating_baselines cb where bl.through is not null and cb.target = tg.target
          union all
          select h.ratings, h.score_counts[1] + h.score_counts[2] as low from rating_rollups_hourly h
          where tg.target > 0 and h.official_id = tg.target and h.official_id <> 0
            and h.hour >= coalesce(bl.through, $16) and h.hour < $15
          union all
          select h.ratings, h.score_counts[1] + h.score_counts[2] from rating_rollups_hourly h
          where tg.target < 0 and h.commune_service_id = -tg.target
            and h.hour >= coalesce(bl.through, $16) and h.hour < $15) b
    -- The baseline is read only for a low score that may continue a run: the worker's sums
    -- up to `through` (campaign_baselines) and the hours since, else every hour since $16.
    where $13 and i.score <= {LOW_SCORE} and coalesce(act.low, 0) + 1 >= $17
) base on true
"""

# The per-target minute counts, kept in the INSERT's statement (ins: the rows inserted; $25
# the round's `now`, $26 the fresh-install age in seconds: an install is fresh as
# campaign_rules.is_fresh judged it in the round). Freshness is read from the install by key,
# not by joining the inserted rows back to the input rows: the write pool allows no hash join
# (backend.db.KEYED_WRITE_SETTINGS), and a nested loop over the two lists of a 2,000-rating
# batch took a second. Targets in order, as the rollups, so concurrent batches lock activity
# rows in one order.
STORE_ACTIVITY = f"""
, act as (
    insert into rating_activity as t (target, minute, low, fresh)
    select rating_target(ins.official_id, ins.commune_service_id), date_trunc('minute', ins.created_at),
           count(*) filter (where ins.score <= {LOW_SCORE}), count(*) filter (where f.fresh)
    from ins
    join citizen_installs ci on ci.id = ins.citizen_id
    cross join lateral (select extract(epoch from $25::timestamptz - ci.created_at) < $26::float8 as fresh) f
    -- Only what the rules read: most ratings (good scores from long-lived installs) write nothing here.
    where ins.score <= {LOW_SCORE} or f.fresh
    group by 1, 2
    order by 1, 2
    on conflict (target, minute) do update
        set low = t.low + excluded.low, fresh = t.fresh + excluded.fresh
)
"""

PRUNE_ACTIVITY_SQL = "delete from rating_activity where minute < $1"


def signals(row: Any, score: int, verified: bool) -> Signals:
    """The signals the resolving SELECT measured for one item."""
    return Signals(
        score=score,
        verified=verified,
        install_age=row["install_age"] if row["install_age"] is not None else 1e9,
        install_recent=row["install_recent"],
        address_recent=row["address_recent"],
        fresh_recent=row["fresh_recent"],
        comment_copies=row["comment_copies"],
        recent_low=row["recent_low"],
        baseline_low=row["baseline_low"],
        baseline_total=row["baseline_total"],
    )


@dataclass(frozen=True)
class Verdict:
    quarantine: str | None
    reasons: str | None
    """The rules that fired, comma-separated (stored as text[])."""


def judge_round(
    thresholds: CampaignThresholds | None,
    items: Sequence[tuple[Any, Any, int, bool, bytes | None, bytes | None]],
) -> list[Verdict]:
    """Hold or count each accepted item of a round, in order; items are (install, row, score,
    verified, address digest, comment digest). Earlier items of the round count as stored."""
    if thresholds is None:
        return [Verdict(None, None) for _ in items]
    tally = BatchTally(thresholds)
    verdicts = []
    for install, row, score, verified, address, comment in items:
        keys = {"install": install, "target": row["target"], "address": address, "comment": comment}
        measured = tally.adjust(signals(row, score, verified), **keys)
        reasons = hold_reasons(measured, thresholds)
        tally.add(measured, **keys)
        verdicts.append(Verdict("held" if reasons else None, ",".join(reasons) if reasons else None))
    return verdicts
