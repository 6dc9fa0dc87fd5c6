-- Campaign quarantine (issue 11, point 3): the column every reader of ratings agrees on.
-- A rating the campaign rules find suspicious is stored but held: it counts in no indicator,
-- rollup, threshold or scorecard until a province admin or the Front reviews it.
--   null        never held: counts
--   'held'      waiting for review: does not count
--   'released'  reviewed and found genuine: counts
--   'discarded' reviewed and found part of a campaign: never counts
-- So a rating counts iff quarantine is null or 'released'.
alter table ratings add column if not exists quarantine text
    check (quarantine in ('held', 'released', 'discarded'));

-- The review queue reads the held ratings of a commune; a partial index keeps it small.
create index if not exists ratings_quarantine_held_idx on ratings (commune_code, created_at)
    where quarantine = 'held';
