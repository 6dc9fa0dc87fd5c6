-- Campaign detection (issue 11, point 3). Ratings are scored at ingest (backend/campaign_rules.py)
-- on what a campaign leaves behind; a suspicious one is stored with quarantine = 'held' (0028).
--
-- What the scoring reads must cost a bounded number of index probes per rating, inside the
-- statement that already resolves each batch:
--   * the network address and the comment are kept only as keyed digests (HMAC, key outside
--     the database), indexed per target so "how many from this address / with this comment
--     against this official lately" stops at a few rows;
--   * per target (the accountable official, else the service) and minute, how many ratings
--     arrived, how many were low and how many came from installs a few minutes old.
alter table ratings add column if not exists address_digest bytea;
alter table ratings add column if not exists comment_digest bytea;
-- Why a rating was held (the rules that fired), for the reviewer; null when never held.
alter table ratings add column if not exists quarantine_reasons text[];
-- Who released or discarded it, when and why (the audit log has the same, with the request).
alter table ratings add column if not exists reviewed_by bigint references users (id);
alter table ratings add column if not exists reviewed_at timestamptz;
alter table ratings add column if not exists review_reason text;

-- The target a campaign aims at: the official who answered for the service, else the service
-- (negative, so the two id spaces never meet).
create function rating_target(official_id bigint, commune_service_id bigint) returns bigint
language sql immutable parallel safe
return coalesce(official_id, -commune_service_id);

create index if not exists ratings_address_target_idx
    on ratings (address_digest, rating_target(official_id, commune_service_id), created_at)
    where address_digest is not null;
create index if not exists ratings_comment_target_idx
    on ratings (comment_digest, rating_target(official_id, commune_service_id), created_at)
    where comment_digest is not null;
-- The review queue of a service or an official.
create index if not exists ratings_held_service_idx on ratings (commune_service_id, id) where quarantine = 'held';

create table if not exists rating_activity (
    target  bigint not null,
    minute  timestamptz not null,
    ratings integer not null default 0,
    low     integer not null default 0,
    fresh   integer not null default 0,
    primary key (target, minute)
);
-- Updated in place all day, like the rollups.
alter table rating_activity set (fillfactor = 70);

-- Rollups count a rating iff quarantine is null or 'released'. The rating triggers now read
-- their transition tables through this filter: a held or discarded row adds nothing, a
-- release (held -> released) adds the row once, and nothing else can change the status.
create function counted_rows(op text) returns text
language sql immutable
return format('select * from (%s) s where s.quarantine is null or s.quarantine = %L', signed_rows(op), 'released');

create or replace function ratings_keep_rollups() returns trigger
language plpgsql as $fn$
declare
    statement text;
begin
    foreach statement in array rating_rollup_statements(counted_rows(tg_op)) loop
        execute statement;
    end loop;
    if tg_op <> 'INSERT' then
        foreach statement in array rating_prune_statements(signed_rows(tg_op)) loop
            execute statement;
        end loop;
    end if;
    return null;
end
$fn$;

do $do$
begin
    execute format(
        'create or replace function ratings_insert_rollups() returns trigger language plpgsql as %L',
        'begin ' || array_to_string(rating_rollup_statements(counted_rows('INSERT')), '; ')
        || '; return null; end');
end
$do$;

create or replace function rebuild_rollups() returns void
language plpgsql as $fn$
declare
    statement text;
begin
    lock table ratings, dossiers, feedback in share mode;
    truncate rating_rollups_hourly, commune_rollups_daily, dossier_rollups_hourly,
             dossier_processing_hourly, commune_processing_daily, feedback_rollups_daily, feedback_answer_time_daily;
    foreach statement in array rating_rollup_statements(
        'select 1 as sign, r.* from ratings r where r.quarantine is null or r.quarantine = ''released''') loop
        execute statement;
    end loop;
    foreach statement in array dossier_rollup_statements('select 1 as sign, x.* from dossiers x') loop
        execute statement;
    end loop;
    foreach statement in array feedback_rollup_statements('select 1 as sign, f.* from feedback f') loop
        execute statement;
    end loop;
end
$fn$;
