-- Lawful routing of reports of wrongdoing (backend/reporter_protection.py,
-- services/feedback_routing.py) and the Front's oversight of reveals
-- (services/reveal_oversight.py).

-- A report about a commune chair or vice-chair goes to the province: to the accounts named
-- here on the forward (the configured provincial recipient, else the province admins), never
-- to the commune's chairs. Null: addressed as before (an official, or the commune's chairs).
alter table feedback_forwards add column if not exists recipient_user_ids bigint[];

-- Where a province wants reports about its communes' chairs to go (e.g. the inspectorate).
create table if not exists province_feedback_recipients (
    province_code text primary key references provinces (code),
    user_id       bigint not null references users (id),
    label         text not null check (char_length(label) between 1 and 200),
    updated_by    bigint not null references users (id),
    updated_at    timestamptz not null default now()
);

-- Reveals refused for going over REVEALS_PER_HOUR, flagged to the oversight one level up.
create table if not exists reveal_flags (
    id            bigint generated always as identity primary key,
    user_id       bigint not null references users (id),
    feedback_id   bigint not null references feedback (id),
    commune_code  text not null references communes (code),
    province_code text not null references provinces (code),
    reveals_in_hour integer not null,
    flagged_at    timestamptz not null default now()
);
create index if not exists reveal_flags_province_idx on reveal_flags (province_code, flagged_at);
create index if not exists audit_log_reveal_idx on audit_log (actor_user_id, occurred_at) where action = 'feedback.reveal';
