-- Two indexes of the first wave that no query reads any more: indicators, breakdowns and the
-- sweep read the rollups (0009), scorecards read ratings by service time among verified ones
-- (ratings_verified_served_idx, 0040) and evidence by service (ratings_service_served_idx),
-- and the held-ratings views have their own partial indexes (0028). Every rating still paid
-- for them: both are keyed on the visit time (served_at), which phones send up to the rating
-- window late, so each insert landed on a random leaf of an index as large as the table, and
-- bench.ingest counted about 0.6 pages read from outside shared_buffers per rating for each
-- of them at 1 M ratings, more as the table grows.
drop index if exists ratings_commune_served_idx;
drop index if exists ratings_official_served_idx;
