-- Outcome-based scorecards (issue 13; Decree 335/2025/ND-CP, Decision 766/QĐ-TTg).
--
-- Dossiers may name the official who handled them (else the official accountable for the
-- service at completion is credited) and the channel they were received through (Decision
-- 766's online share). Scorecards are computed per province and period from the raw rows
-- into `scorecards`; `scorecard_periods` says when a province's period was last computed and
-- when it was frozen. A frozen scorecard never changes silently: a later recomputation that
-- differs writes a `scorecard_amendments` row (what changed, why, when) before the shown
-- figures change. Officials' explanations are append-only.

alter table dossiers add column if not exists handling_official_id bigint references officials (id);
alter table dossiers add column if not exists channel text check (channel in ('online', 'in_person', 'postal'));

-- The period computation reads a province's dossiers by completion and by due time.
create index if not exists dossiers_service_completed_idx on dossiers (commune_service_id, completed_at)
    where completed_at is not null;
create index if not exists dossiers_service_due_idx on dossiers (commune_service_id, due_at)
    where due_at is not null;
create index if not exists feedback_forwards_commune_due_idx on feedback_forwards (commune_code, due_at);

create table if not exists scorecard_periods (
    province_code text not null references provinces (code),
    period_kind   text not null check (period_kind in ('month', 'quarter')),
    period_start  date not null,
    computed_at   timestamptz not null,
    frozen_at     timestamptz,
    primary key (province_code, period_kind, period_start)
);

create table if not exists scorecards (
    id            bigint generated always as identity primary key,
    period_kind   text not null check (period_kind in ('month', 'quarter')),
    period_start  date not null,
    subject_kind  text not null check (subject_kind in ('official', 'commune')),
    official_id   bigint references officials (id),
    commune_code  text not null references communes (code),
    province_code text not null references provinces (code),
    composite     double precision,
    band          text check (band in ('excellent', 'good', 'completed', 'not_completed')),
    figures       jsonb not null,
    computed_at   timestamptz not null,
    frozen_at     timestamptz,
    amended_at    timestamptz,
    check ((subject_kind = 'official') = (official_id is not null)),
    check ((composite is null) = (band is null))
);
create unique index if not exists scorecards_subject_key
    on scorecards (period_kind, period_start, subject_kind, commune_code, coalesce(official_id, 0));
create index if not exists scorecards_province_idx on scorecards (province_code, period_kind, period_start, subject_kind);
create index if not exists scorecards_official_idx on scorecards (official_id, period_kind, period_start)
    where official_id is not null;

create table if not exists scorecard_amendments (
    id           bigint generated always as identity primary key,
    scorecard_id bigint not null references scorecards (id),
    amended_at   timestamptz not null default now(),
    reason       text not null,
    changes      jsonb not null,
    previous     jsonb not null
);
create index if not exists scorecard_amendments_scorecard_idx on scorecard_amendments (scorecard_id, id);

create table if not exists scorecard_explanations (
    id             bigint generated always as identity primary key,
    scorecard_id   bigint not null references scorecards (id),
    author_user_id bigint not null references users (id),
    body           text not null check (char_length(body) between 1 and 2000),
    created_at     timestamptz not null default now()
);
create index if not exists scorecard_explanations_scorecard_idx on scorecard_explanations (scorecard_id, id);
