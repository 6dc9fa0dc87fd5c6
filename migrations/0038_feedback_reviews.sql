-- Review before forward (issue 10, point 8): the Front reads, and may edit, the masked copy of
-- a report of wrongdoing before any authority gets it, and the forward carries exactly the
-- copy reviewed. One current review per item; editing the item's text afterwards (moderate)
-- or reviewing again supersedes it, and a protected item cannot be forwarded without one.

create table if not exists feedback_reviews (
    id                 bigint generated always as identity primary key,
    feedback_id        bigint not null references feedback (id),
    body               text not null check (char_length(body) between 1 and 20000),
    edited             boolean not null,
    masked             jsonb not null default '{}',
    reviewed_by        bigint not null references users (id),
    reviewed_at        timestamptz not null default now(),
    superseded_at      timestamptz,
    superseded_because text check (superseded_because in ('reviewed_again', 'text_edited')),
    check ((superseded_at is null) = (superseded_because is null))
);
create unique index if not exists feedback_reviews_current_key on feedback_reviews (feedback_id)
    where superseded_at is null;

-- Which review a forward carried (null: forwarded before reviews existed, or an ordinary
-- item sent without one).
alter table feedback_forwards add column if not exists review_id bigint references feedback_reviews (id);
