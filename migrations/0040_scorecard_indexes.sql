-- Scorecards read a month of dossiers and verified ratings across a province or the nation
-- (backend/services/scorecard_compute.py), with no service to lead an index. Without these,
-- every computation would scan all the history; with them, the dossiers completed, due or
-- received in the period are a BitmapOr of three range scans and the verified ratings a range
-- scan of a partial index (unverified ratings never count, so they are not indexed here).
create index if not exists dossiers_completed_at_idx on dossiers (completed_at) where completed_at is not null;
create index if not exists dossiers_due_at_idx on dossiers (due_at) where due_at is not null;
create index if not exists dossiers_received_at_idx on dossiers (received_at);
create index if not exists ratings_verified_served_idx on ratings (served_at) where verified;
