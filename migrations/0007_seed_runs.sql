-- Seeds that must run once per database (demo accounts and history) record themselves
-- here, in the same transaction as their rows, so a second run changes nothing.

create table seed_runs (
    name       text primary key,
    applied_at timestamptz not null default now(),
    details    jsonb not null default '{}'
);
