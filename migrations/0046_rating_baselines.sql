-- Campaign scoring's baseline for a low run (backend/campaign_rules.py low_run): a target's
-- counted ratings and low scores over the 30 days before the run. The ingest summed them
-- from the hourly rollups for every low rating that might continue a run: up to 720 rows
-- per target, and at a national month (10 M ratings) bench.ingest counted about 70-100
-- rollup pages touched and 3-4 read from outside shared_buffers per rating, a cost that
-- grew with the data. The worker now sums them once an hour per target (official, and
-- service) up to `through`; the ingest reads that one row plus the few hourly rows since.
create table if not exists rating_baselines (
    target  bigint primary key,
    ratings bigint not null,
    low     bigint not null
);

-- The one refresh the rows above come from: the hours [since, through) they sum.
create table if not exists rating_baseline_runs (
    singleton    boolean primary key default true check (singleton),
    since        timestamptz not null,
    through      timestamptz not null,
    refreshed_at timestamptz not null default now()
);

-- The refresh reads the month's hourly rollups. They are kept for good, so a scan of the
-- whole table would grow with every month of history until it outlasted the worker's
-- statement timeout. Rollup rows are created as ratings arrive, a few weeks after their
-- hour at most, so the table is laid out in hour order closely enough for a block-range
-- index: a few kilobytes, and no cost to the in-place (HOT) updates of existing rows.
create index if not exists rating_rollups_hour_brin on rating_rollups_hourly using brin (hour)
    with (autosummarize = on);
