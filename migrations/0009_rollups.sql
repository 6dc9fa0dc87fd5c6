-- Rollups kept current by the statements that change the raw data.
--
-- Ratings change on four paths (insert, verification when the completion arrives, re-link
-- after a backdated rotation, later retention deletes) and dossiers on two. Statement-level
-- triggers with transition tables see every one of them, set-based, in the changing
-- statement's own transaction, so the rollups cannot drift from the raw rows. Each change
-- is turned into signed rows (+1 new, -1 old) and the net per rollup key is upserted.
-- The same SQL text rebuilds everything from the raw tables (rebuild_rollups), so the
-- incremental and the rebuilt rollups come from one definition.
--
-- Two grains: hourly per commune service (and per accountable official for ratings) for
-- service and official views, and daily per commune (local day, Asia/Ho_Chi_Minh) for
-- commune, province and national reads and for the threshold sweep, which then reads
-- one row per commune and day instead of one per service and hour.
--
-- Processing times are kept as counts per logarithmic bucket (bucket 0: under 15 minutes;
-- bucket i: from 900 * 1.25^(i-1) seconds, 25 % wide; backend/indicators.py mirrors it),
-- so medians and p90s come from rollups too.

create function processing_bucket(seconds double precision) returns smallint
language sql immutable parallel safe
return case when seconds < 900 then 0
            else least(63, 1 + floor(ln(seconds / 900) / ln(1.25)))::smallint end;

-- Wilson score interval at 95 % (z = 1.959963984540054), used by the threshold sweep.
create function wilson_low(successes double precision, n double precision) returns double precision
language sql immutable parallel safe
return case when n > 0 then greatest(0.0,
    ((successes / n) + 3.841458820694124 / (2 * n)
     - 1.959963984540054 * sqrt(greatest((successes / n) * (1 - successes / n) / n + 3.841458820694124 / (4 * n * n), 0)))
    / (1 + 3.841458820694124 / n)) end;

create function wilson_high(successes double precision, n double precision) returns double precision
language sql immutable parallel safe
return case when n > 0 then least(1.0,
    ((successes / n) + 3.841458820694124 / (2 * n)
     + 1.959963984540054 * sqrt(greatest((successes / n) * (1 - successes / n) / n + 3.841458820694124 / (4 * n * n), 0)))
    / (1 + 3.841458820694124 / n)) end;

create function add5(a integer[], b integer[]) returns integer[]
language sql immutable parallel safe
return array[a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5]];

-- An on-time rate needs a due date: completions without one count in neither column.
alter table dossier_rollups_hourly drop column processing_hist;
alter table dossier_rollups_hourly add column completed_late integer not null default 0;

create index rating_rollups_official_idx on rating_rollups_hourly (official_id, hour) where official_id <> 0;

create table dossier_processing_hourly (
    hour               timestamptz not null,
    commune_service_id bigint not null references commune_services (id),
    commune_code       text not null,
    bucket             smallint not null check (bucket between 0 and 63),
    dossiers           integer not null,
    primary key (commune_service_id, hour, bucket)
);
create index dossier_processing_commune_idx on dossier_processing_hourly (commune_code, hour);

create table commune_rollups_daily (
    day               date not null,
    commune_code      text not null,
    province_code     text not null,
    ratings           integer not null default 0,
    satisfied         integer not null default 0,
    verified          integer not null default 0,
    score_sum         integer not null default 0,
    score_counts      integer[] not null default '{0,0,0,0,0}',
    dim_sums          integer[] not null default '{0,0,0,0,0}',
    dim_counts        integer[] not null default '{0,0,0,0,0}',
    received          integer not null default 0,
    completed         integer not null default 0,
    completed_on_time integer not null default 0,
    completed_late    integer not null default 0,
    primary key (commune_code, day)
);
create index commune_rollups_daily_province_idx on commune_rollups_daily (province_code, day);
create index commune_rollups_daily_day_idx on commune_rollups_daily (day);

create table commune_processing_daily (
    day           date not null,
    commune_code  text not null,
    province_code text not null,
    bucket        smallint not null check (bucket between 0 and 63),
    dossiers      integer not null,
    primary key (commune_code, day, bucket)
);
create index commune_processing_daily_province_idx on commune_processing_daily (province_code, day);

-- What a rating rollup row holds: the net sums of signed rating rows `d`, which rows
-- netting to nothing are skipped, and how a row absorbs a delta. Both grains share them.
create function rating_sums() returns text
language sql immutable
return $q$
               sum(d.sign)::int as ratings,
               coalesce(sum(d.sign) filter (where d.score >= 4), 0)::int as satisfied,
               coalesce(sum(d.sign) filter (where d.verified), 0)::int as verified,
               sum(d.sign * d.score)::int as score_sum,
               array[coalesce(sum(d.sign) filter (where d.score = 1), 0), coalesce(sum(d.sign) filter (where d.score = 2), 0),
                     coalesce(sum(d.sign) filter (where d.score = 3), 0), coalesce(sum(d.sign) filter (where d.score = 4), 0),
                     coalesce(sum(d.sign) filter (where d.score = 5), 0)]::int[] as score_counts,
               array[coalesce(sum(d.sign * d.score_access), 0), coalesce(sum(d.sign * d.score_procedure), 0),
                     coalesce(sum(d.sign * d.score_attitude), 0), coalesce(sum(d.sign * d.score_result), 0),
                     coalesce(sum(d.sign * d.score_timeliness), 0)]::int[] as dim_sums,
               array[coalesce(sum(d.sign) filter (where d.score_access is not null), 0),
                     coalesce(sum(d.sign) filter (where d.score_procedure is not null), 0),
                     coalesce(sum(d.sign) filter (where d.score_attitude is not null), 0),
                     coalesce(sum(d.sign) filter (where d.score_result is not null), 0),
                     coalesce(sum(d.sign) filter (where d.score_timeliness is not null), 0)]::int[] as dim_counts$q$;

create function rating_sums_nonzero() returns text
language sql immutable
return $q$(g.ratings, g.satisfied, g.verified, g.score_sum) <> (0, 0, 0, 0)
       or g.score_counts <> '{0,0,0,0,0}' or g.dim_sums <> '{0,0,0,0,0}' or g.dim_counts <> '{0,0,0,0,0}'$q$;

create function rating_sums_merge() returns text
language sql immutable
return $q$ratings = t.ratings + excluded.ratings, satisfied = t.satisfied + excluded.satisfied,
        verified = t.verified + excluded.verified, score_sum = t.score_sum + excluded.score_sum,
        score_counts = add5(t.score_counts, excluded.score_counts),
        dim_sums = add5(t.dim_sums, excluded.dim_sums), dim_counts = add5(t.dim_counts, excluded.dim_counts)$q$;

-- The rollup statements for a source of signed rows. `src` is a query returning
-- `sign` and the columns of the raw table. Rows are upserted in key order so that
-- concurrent writers lock rollup rows in one order and cannot deadlock.
create function rating_rollup_statements(src text) returns text[]
language sql
return array[
    format($q$
    insert into rating_rollups_hourly as t
        (hour, commune_service_id, official_id, commune_code, province_code, ratings, satisfied, verified,
         score_sum, score_counts, dim_sums, dim_counts)
    select g.hour, g.commune_service_id, g.official_id, g.commune_code,
           (select c.province_code from communes c where c.code = g.commune_code), g.ratings, g.satisfied,
           g.verified, g.score_sum, g.score_counts, g.dim_sums, g.dim_counts
    from (
        select date_trunc('hour', d.served_at, 'UTC') as hour, d.commune_service_id,
               coalesce(d.official_id, 0) as official_id, d.commune_code, %2$s
        from (%1$s) d
        group by 1, 2, 3, 4
    ) g
    where %3$s
    order by g.commune_service_id, g.official_id, g.hour
    on conflict (commune_service_id, official_id, hour) do update set %4$s
    $q$, src, rating_sums(), rating_sums_nonzero(), rating_sums_merge()),
    format($q$
    insert into commune_rollups_daily as t
        (day, commune_code, province_code, ratings, satisfied, verified, score_sum, score_counts, dim_sums, dim_counts)
    select g.day, g.commune_code, (select c.province_code from communes c where c.code = g.commune_code),
           g.ratings, g.satisfied, g.verified, g.score_sum, g.score_counts, g.dim_sums, g.dim_counts
    from (
        select (d.served_at at time zone 'Asia/Ho_Chi_Minh')::date as day, d.commune_code, %2$s
        from (%1$s) d
        group by 1, 2
    ) g
    where %3$s
    order by g.commune_code, g.day
    on conflict (commune_code, day) do update set %4$s
    $q$, src, rating_sums(), rating_sums_nonzero(), rating_sums_merge())
];

-- A dossier contributes "received" at its receipt and, once completed, "completed"
-- (on time or late against its due date, and a processing-time bucket) at its completion.
create function dossier_parts(src text) returns text
language sql
return format($q$
    select d.sign, d.commune_service_id, d.commune_code,
           (select c.province_code from communes c where c.code = d.commune_code) as province_code,
           p.at, p.received, p.completed, p.on_time, p.late, p.bucket
    from (select x.*, (select cs.commune_code from commune_services cs where cs.id = x.commune_service_id) as commune_code
          from (%1$s) x) d
    cross join lateral (
        select d.received_at as at, 1 as received, 0 as completed, 0 as on_time, 0 as late, null::smallint as bucket
        union all
        select d.completed_at, 0, 1, (d.due_at is not null and d.completed_at <= d.due_at)::int,
               (d.due_at is not null and d.completed_at > d.due_at)::int,
               processing_bucket(extract(epoch from d.completed_at - d.received_at)::double precision)
        where d.completed_at is not null
    ) p
$q$, src);

create function dossier_rollup_statements(src text) returns text[]
language sql
return array[
    format($q$
    insert into dossier_rollups_hourly as t
        (hour, commune_service_id, commune_code, province_code, received, completed, completed_on_time, completed_late)
    select * from (
        select date_trunc('hour', p.at, 'UTC') as hour, p.commune_service_id, p.commune_code, p.province_code,
               sum(p.sign * p.received)::int as received, sum(p.sign * p.completed)::int as completed,
               sum(p.sign * p.on_time)::int as on_time, sum(p.sign * p.late)::int as late
        from (%1$s) p
        group by 1, 2, 3, 4
    ) g
    where (g.received, g.completed, g.on_time, g.late) <> (0, 0, 0, 0)
    order by g.commune_service_id, g.hour
    on conflict (commune_service_id, hour) do update set
        received = t.received + excluded.received, completed = t.completed + excluded.completed,
        completed_on_time = t.completed_on_time + excluded.completed_on_time,
        completed_late = t.completed_late + excluded.completed_late
    $q$, dossier_parts(src)),
    format($q$
    insert into dossier_processing_hourly as t (hour, commune_service_id, commune_code, bucket, dossiers)
    select * from (
        select date_trunc('hour', p.at, 'UTC') as hour, p.commune_service_id, p.commune_code, p.bucket,
               sum(p.sign)::int as dossiers
        from (%1$s) p
        where p.bucket is not null
        group by 1, 2, 3, 4
    ) g
    where g.dossiers <> 0
    order by g.commune_service_id, g.hour, g.bucket
    on conflict (commune_service_id, hour, bucket) do update set dossiers = t.dossiers + excluded.dossiers
    $q$, dossier_parts(src)),
    format($q$
    insert into commune_rollups_daily as t
        (day, commune_code, province_code, received, completed, completed_on_time, completed_late)
    select * from (
        select (p.at at time zone 'Asia/Ho_Chi_Minh')::date as day, p.commune_code, p.province_code,
               sum(p.sign * p.received)::int as received, sum(p.sign * p.completed)::int as completed,
               sum(p.sign * p.on_time)::int as on_time, sum(p.sign * p.late)::int as late
        from (%1$s) p
        group by 1, 2, 3
    ) g
    where (g.received, g.completed, g.on_time, g.late) <> (0, 0, 0, 0)
    order by g.commune_code, g.day
    on conflict (commune_code, day) do update set
        received = t.received + excluded.received, completed = t.completed + excluded.completed,
        completed_on_time = t.completed_on_time + excluded.completed_on_time,
        completed_late = t.completed_late + excluded.completed_late
    $q$, dossier_parts(src)),
    format($q$
    insert into commune_processing_daily as t (day, commune_code, province_code, bucket, dossiers)
    select * from (
        select (p.at at time zone 'Asia/Ho_Chi_Minh')::date as day, p.commune_code, p.province_code, p.bucket,
               sum(p.sign)::int as dossiers
        from (%1$s) p
        where p.bucket is not null
        group by 1, 2, 3, 4
    ) g
    where g.dossiers <> 0
    order by g.commune_code, g.day, g.bucket
    on conflict (commune_code, day, bucket) do update set dossiers = t.dossiers + excluded.dossiers
    $q$, dossier_parts(src))
];

-- Rows that net out to nothing after an update or delete are removed, so the incremental
-- tables hold exactly the rows a rebuild would. Found by the keys the change touched: an
-- index on the zero rows would make every rollup update a non-HOT one.
create function rating_prune_statements(src text) returns text[]
language sql
return array[
    format($q$
    delete from rating_rollups_hourly t
    using (select distinct date_trunc('hour', d.served_at, 'UTC') as hour, d.commune_service_id,
                           coalesce(d.official_id, 0) as official_id
           from (%1$s) d) k
    where t.commune_service_id = k.commune_service_id and t.official_id = k.official_id and t.hour = k.hour
      and t.ratings = 0
    $q$, src),
    format($q$
    delete from commune_rollups_daily t
    using (select distinct (d.served_at at time zone 'Asia/Ho_Chi_Minh')::date as day, d.commune_code
           from (%1$s) d) k
    where t.commune_code = k.commune_code and t.day = k.day and t.ratings = 0 and t.received = 0 and t.completed = 0
    $q$, src)
];

create function dossier_prune_statements(src text) returns text[]
language sql
return array[
    format($q$
    delete from dossier_rollups_hourly t
    using (select distinct date_trunc('hour', p.at, 'UTC') as hour, p.commune_service_id from (%1$s) p) k
    where t.commune_service_id = k.commune_service_id and t.hour = k.hour and t.received = 0 and t.completed = 0
    $q$, dossier_parts(src)),
    format($q$
    delete from dossier_processing_hourly t
    using (select distinct date_trunc('hour', p.at, 'UTC') as hour, p.commune_service_id from (%1$s) p) k
    where t.commune_service_id = k.commune_service_id and t.hour = k.hour and t.dossiers = 0
    $q$, dossier_parts(src)),
    format($q$
    delete from commune_processing_daily t
    using (select distinct (p.at at time zone 'Asia/Ho_Chi_Minh')::date as day, p.commune_code from (%1$s) p) k
    where t.commune_code = k.commune_code and t.day = k.day and t.dossiers = 0
    $q$, dossier_parts(src)),
    format($q$
    delete from commune_rollups_daily t
    using (select distinct (p.at at time zone 'Asia/Ho_Chi_Minh')::date as day, p.commune_code from (%1$s) p) k
    where t.commune_code = k.commune_code and t.day = k.day and t.ratings = 0 and t.received = 0 and t.completed = 0
    $q$, dossier_parts(src))
];

-- Rollup rows are updated in place all day: room on each page keeps those updates HOT.
alter table rating_rollups_hourly set (fillfactor = 70);
alter table commune_rollups_daily set (fillfactor = 70);
alter table dossier_rollups_hourly set (fillfactor = 70);
alter table dossier_processing_hourly set (fillfactor = 70);
alter table commune_processing_daily set (fillfactor = 70);
-- Province reads use the daily rollups; these only cost on every write.
drop index rating_rollups_province_idx;
drop index dossier_rollups_province_idx;

create function signed_rows(op text) returns text
language sql immutable
return case op
    when 'INSERT' then 'select 1 as sign, n.* from new_rows n'
    when 'DELETE' then 'select -1 as sign, o.* from old_rows o'
    else 'select -1 as sign, o.* from old_rows o union all select 1 as sign, n.* from new_rows n'
end;

create function ratings_keep_rollups() returns trigger
language plpgsql as $fn$
declare
    statement text;
begin
    foreach statement in array rating_rollup_statements(signed_rows(tg_op)) loop
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

create function dossiers_keep_rollups() returns trigger
language plpgsql as $fn$
declare
    statement text;
begin
    foreach statement in array dossier_rollup_statements(signed_rows(tg_op)) loop
        execute statement;
    end loop;
    if tg_op <> 'INSERT' then
        foreach statement in array dossier_prune_statements(signed_rows(tg_op)) loop
            execute statement;
        end loop;
    end if;
    return null;
end
$fn$;

-- Inserts are the hot path (every rating batch): their trigger functions are written out
-- from the same statements, as static SQL, so each connection plans them once.
do $do$
begin
    execute format(
        'create function ratings_insert_rollups() returns trigger language plpgsql as %L',
        'begin ' || array_to_string(rating_rollup_statements(signed_rows('INSERT')), '; ')
        || '; return null; end');
    execute format(
        'create function dossiers_insert_rollups() returns trigger language plpgsql as %L',
        'begin ' || array_to_string(dossier_rollup_statements(signed_rows('INSERT')), '; ')
        || '; return null; end');
end
$do$;

-- Transition tables allow one event per trigger, hence three of each.
create trigger ratings_rollups_insert after insert on ratings
    referencing new table as new_rows for each statement execute function ratings_insert_rollups();
create trigger ratings_rollups_update after update on ratings
    referencing old table as old_rows new table as new_rows for each statement execute function ratings_keep_rollups();
create trigger ratings_rollups_delete after delete on ratings
    referencing old table as old_rows for each statement execute function ratings_keep_rollups();
create trigger dossiers_rollups_insert after insert on dossiers
    referencing new table as new_rows for each statement execute function dossiers_insert_rollups();
create trigger dossiers_rollups_update after update on dossiers
    referencing old table as old_rows new table as new_rows for each statement execute function dossiers_keep_rollups();
create trigger dossiers_rollups_delete after delete on dossiers
    referencing old table as old_rows for each statement execute function dossiers_keep_rollups();

-- Recompute every rollup from the raw rows (commune-pulse rollups rebuild). Writers wait
-- for it: the raw tables are locked against changes while it runs.
create function rebuild_rollups() returns void
language plpgsql as $fn$
declare
    statement text;
begin
    lock table ratings, dossiers in share mode;
    truncate rating_rollups_hourly, commune_rollups_daily, dossier_rollups_hourly,
             dossier_processing_hourly, commune_processing_daily;
    foreach statement in array rating_rollup_statements('select 1 as sign, r.* from ratings r') loop
        execute statement;
    end loop;
    foreach statement in array dossier_rollup_statements('select 1 as sign, x.* from dossiers x') loop
        execute statement;
    end loop;
end
$fn$;

-- One open alert per indicator and scope, whichever rule (national, province or commune)
-- currently judges it: an override replacing the inherited rule takes the open alert over.
create unique index alerts_one_open_indicator on alerts (indicator, scope_kind, scope_code) where state <> 'resolved';
drop index alerts_one_open;
create index alerts_open_idx on alerts (scope_code) where state <> 'resolved';
