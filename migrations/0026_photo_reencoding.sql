-- Photos are re-encoded from their pixels on upload (backend/images.py). Photos stored
-- before that only had some metadata segments cut out; `commune-pulse photos scrub`
-- re-encodes them and stamps this column. New rows are stamped by the default, rows from
-- before stay null until scrubbed (so a scrub never re-encodes a photo twice).
alter table feedback_attachments add column if not exists reencoded_at timestamptz;
alter table feedback_attachments alter column reencoded_at set default now();
create index if not exists feedback_attachments_not_reencoded_idx on feedback_attachments (id)
    where reencoded_at is null;
