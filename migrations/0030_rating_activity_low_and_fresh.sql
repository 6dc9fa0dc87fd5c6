-- Campaign scoring measures a run of low scores against the target's own *rate* of low scores
-- (backend/campaign_rules.py low_run), so the per-minute activity needs only the low ratings and
-- those from fresh installs; the ingest records nothing for the rest (most ratings), which takes
-- the activity upsert off the common write path. The total per minute is no longer kept.
alter table rating_activity drop column if exists ratings;
