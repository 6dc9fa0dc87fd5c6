-- No side channel to the official concerned (issue 10, point 5). The answer rollups keep
-- reports of wrongdoing (feedback.protected) apart, so the figures a commune chair or
-- official reads leave them out while the Front and the province still count them.
-- Same triggers as 0014; `protected` becomes part of each rollup's key. An item only ever
-- becomes protected (0015), and the signed old/new rows move its counts across.

alter table feedback_rollups_daily add column if not exists protected boolean not null default false;
alter table feedback_rollups_daily drop constraint feedback_rollups_daily_pkey;
alter table feedback_rollups_daily add primary key (commune_code, day, protected);

alter table feedback_answer_time_daily add column if not exists protected boolean not null default false;
alter table feedback_answer_time_daily drop constraint feedback_answer_time_daily_pkey;
alter table feedback_answer_time_daily add primary key (commune_code, day, bucket, protected);

create or replace function feedback_parts(src text) returns text
language sql
return format($q$
    select f.sign, f.commune_code, (select c.province_code from communes c where c.code = f.commune_code) as province_code,
           (f.answered_at at time zone 'Asia/Ho_Chi_Minh')::date as day, f.protected,
           (f.response_due_at is not null and f.answered_at <= f.response_due_at)::int as on_time,
           (f.response_due_at is not null and f.answered_at > f.response_due_at)::int as late,
           processing_bucket(extract(epoch from f.answered_at - f.created_at)::double precision) as bucket,
           (f.answer_rating is not null)::int as rated, coalesce(f.answer_rating, 0) as rating,
           (f.answer_rating >= 4)::int as satisfied
    from (%1$s) f
    where f.answered_at is not null and f.status <> 'merged'
$q$, src);

create or replace function feedback_rollup_statements(src text) returns text[]
language sql
return array[
    format($q$
    insert into feedback_rollups_daily as t
        (day, commune_code, province_code, protected, answered, answered_on_time, answered_late, rated, rating_sum,
         rating_satisfied)
    select * from (
        select p.day, p.commune_code, p.province_code, p.protected, sum(p.sign)::int as answered,
               sum(p.sign * p.on_time)::int as on_time, sum(p.sign * p.late)::int as late,
               sum(p.sign * p.rated)::int as rated, sum(p.sign * p.rating)::int as rating_sum,
               coalesce(sum(p.sign * p.satisfied), 0)::int as satisfied
        from (%1$s) p
        group by 1, 2, 3, 4
    ) g
    where (g.answered, g.on_time, g.late, g.rated, g.rating_sum, g.satisfied) <> (0, 0, 0, 0, 0, 0)
    order by g.commune_code, g.day, g.protected
    on conflict (commune_code, day, protected) do update set
        answered = t.answered + excluded.answered, answered_on_time = t.answered_on_time + excluded.answered_on_time,
        answered_late = t.answered_late + excluded.answered_late, rated = t.rated + excluded.rated,
        rating_sum = t.rating_sum + excluded.rating_sum, rating_satisfied = t.rating_satisfied + excluded.rating_satisfied
    $q$, feedback_parts(src)),
    format($q$
    insert into feedback_answer_time_daily as t (day, commune_code, province_code, bucket, protected, items)
    select * from (
        select p.day, p.commune_code, p.province_code, p.bucket, p.protected, sum(p.sign)::int as items
        from (%1$s) p
        group by 1, 2, 3, 4, 5
    ) g
    where g.items <> 0
    order by g.commune_code, g.day, g.bucket, g.protected
    on conflict (commune_code, day, bucket, protected) do update set items = t.items + excluded.items
    $q$, feedback_parts(src))
];

create or replace function feedback_prune_statements(src text) returns text[]
language sql
return array[
    format($q$
    delete from feedback_rollups_daily t
    using (select distinct p.commune_code, p.day, p.protected from (%1$s) p) k
    where t.commune_code = k.commune_code and t.day = k.day and t.protected = k.protected
      and t.answered = 0 and t.rated = 0
    $q$, feedback_parts(src)),
    format($q$
    delete from feedback_answer_time_daily t
    using (select distinct p.commune_code, p.day, p.protected from (%1$s) p) k
    where t.commune_code = k.commune_code and t.day = k.day and t.protected = k.protected and t.items = 0
    $q$, feedback_parts(src))
];

-- Recount what is there, now split by protection.
do $$
declare
    statement text;
begin
    lock table feedback in share mode;
    delete from feedback_rollups_daily;
    delete from feedback_answer_time_daily;
    foreach statement in array feedback_rollup_statements('select 1 as sign, f.* from feedback f') loop
        execute statement;
    end loop;
end
$$;

-- The overdue/backlog counts an authority may read are of forwarded, unprotected items.
create index if not exists feedback_forwarded_commune_idx on feedback (commune_code)
    where status = 'forwarded' and not protected;

-- Pushes to an authority name the forward they are about, never the feedback item (its id
-- is the Front's, and the authority's copy is deliberately cut off from it).
alter table notification_outbox add column if not exists forward_id bigint references feedback_forwards (id);
