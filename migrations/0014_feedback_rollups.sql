-- The Front's answers as indicators: per commune and local day of the answer, how many
-- were answered, on time or late against the response deadline, how long they took (the
-- same logarithmic buckets as processing times) and how the citizens rated the answers.
-- Kept by triggers on feedback as the dossier and rating rollups are (0009); backlog and
-- overdue counts are current states, read from feedback itself.

create table feedback_rollups_daily (
    day              date not null,
    commune_code     text not null,
    province_code    text not null,
    answered         integer not null default 0,
    answered_on_time integer not null default 0,
    answered_late    integer not null default 0,
    rated            integer not null default 0,
    rating_sum       integer not null default 0,
    rating_satisfied integer not null default 0,
    primary key (commune_code, day)
) with (fillfactor = 70);
create index feedback_rollups_daily_province_idx on feedback_rollups_daily (province_code, day);
create index feedback_rollups_daily_day_idx on feedback_rollups_daily (day);

create table feedback_answer_time_daily (
    day           date not null,
    commune_code  text not null,
    province_code text not null,
    bucket        smallint not null check (bucket between 0 and 63),
    items         integer not null,
    primary key (commune_code, day, bucket)
) with (fillfactor = 70);
create index feedback_answer_time_province_idx on feedback_answer_time_daily (province_code, day);

-- An answered item (not merged away) counts on the local day of its answer.
create function feedback_parts(src text) returns text
language sql
return format($q$
    select f.sign, f.commune_code, (select c.province_code from communes c where c.code = f.commune_code) as province_code,
           (f.answered_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
           (f.response_due_at is not null and f.answered_at <= f.response_due_at)::int as on_time,
           (f.response_due_at is not null and f.answered_at > f.response_due_at)::int as late,
           processing_bucket(extract(epoch from f.answered_at - f.created_at)::double precision) as bucket,
           (f.answer_rating is not null)::int as rated, coalesce(f.answer_rating, 0) as rating,
           (f.answer_rating >= 4)::int as satisfied
    from (%1$s) f
    where f.answered_at is not null and f.status <> 'merged'
$q$, src);

create function feedback_rollup_statements(src text) returns text[]
language sql
return array[
    format($q$
    insert into feedback_rollups_daily as t
        (day, commune_code, province_code, answered, answered_on_time, answered_late, rated, rating_sum,
         rating_satisfied)
    select * from (
        select p.day, p.commune_code, p.province_code, sum(p.sign)::int as answered,
               sum(p.sign * p.on_time)::int as on_time, sum(p.sign * p.late)::int as late,
               sum(p.sign * p.rated)::int as rated, sum(p.sign * p.rating)::int as rating_sum,
               coalesce(sum(p.sign * p.satisfied), 0)::int as satisfied
        from (%1$s) p
        group by 1, 2, 3
    ) g
    where (g.answered, g.on_time, g.late, g.rated, g.rating_sum, g.satisfied) <> (0, 0, 0, 0, 0, 0)
    order by g.commune_code, g.day
    on conflict (commune_code, day) do update set
        answered = t.answered + excluded.answered, answered_on_time = t.answered_on_time + excluded.answered_on_time,
        answered_late = t.answered_late + excluded.answered_late, rated = t.rated + excluded.rated,
        rating_sum = t.rating_sum + excluded.rating_sum, rating_satisfied = t.rating_satisfied + excluded.rating_satisfied
    $q$, feedback_parts(src)),
    format($q$
    insert into feedback_answer_time_daily as t (day, commune_code, province_code, bucket, items)
    select * from (
        select p.day, p.commune_code, p.province_code, p.bucket, sum(p.sign)::int as items
        from (%1$s) p
        group by 1, 2, 3, 4
    ) g
    where g.items <> 0
    order by g.commune_code, g.day, g.bucket
    on conflict (commune_code, day, bucket) do update set items = t.items + excluded.items
    $q$, feedback_parts(src))
];

create function feedback_prune_statements(src text) returns text[]
language sql
return array[
    format($q$
    delete from feedback_rollups_daily t
    using (select distinct p.commune_code, p.day from (%1$s) p) k
    where t.commune_code = k.commune_code and t.day = k.day and t.answered = 0 and t.rated = 0
    $q$, feedback_parts(src)),
    format($q$
    delete from feedback_answer_time_daily t
    using (select distinct p.commune_code, p.day from (%1$s) p) k
    where t.commune_code = k.commune_code and t.day = k.day and t.items = 0
    $q$, feedback_parts(src))
];

create function feedback_keep_rollups() returns trigger
language plpgsql as $fn$
declare
    statement text;
begin
    foreach statement in array feedback_rollup_statements(signed_rows(tg_op)) loop
        execute statement;
    end loop;
    if tg_op <> 'INSERT' then
        foreach statement in array feedback_prune_statements(signed_rows(tg_op)) loop
            execute statement;
        end loop;
    end if;
    return null;
end
$fn$;

create trigger feedback_rollups_insert after insert on feedback
    referencing new table as new_rows for each statement execute function feedback_keep_rollups();
create trigger feedback_rollups_update after update on feedback
    referencing old table as old_rows new table as new_rows for each statement execute function feedback_keep_rollups();
create trigger feedback_rollups_delete after delete on feedback
    referencing old table as old_rows for each statement execute function feedback_keep_rollups();

create or replace function rebuild_rollups() returns void
language plpgsql as $fn$
declare
    statement text;
begin
    lock table ratings, dossiers, feedback in share mode;
    truncate rating_rollups_hourly, commune_rollups_daily, dossier_rollups_hourly,
             dossier_processing_hourly, commune_processing_daily, feedback_rollups_daily, feedback_answer_time_daily;
    foreach statement in array rating_rollup_statements('select 1 as sign, r.* from ratings r') loop
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

-- Thresholds may watch the answers too.
alter table threshold_rules drop constraint threshold_rules_indicator_check;
alter table threshold_rules add constraint threshold_rules_indicator_check check (indicator in (
    'satisfaction_rate', 'verified_share', 'on_time_rate', 'mean_score', 'feedback_backlog', 'feedback_overdue',
    'feedback_answered_on_time', 'feedback_answer_satisfaction'
));

-- Answers the Front can start from, per category; national ones for everybody, a
-- province's for its staff.
create table feedback_templates (
    id            bigint generated always as identity primary key,
    category      text not null check (category in ('suggestion', 'complaint', 'wrongdoing_report',
                                                    'question', 'praise')),
    title         text not null check (char_length(title) between 1 and 200),
    body          text not null check (char_length(body) between 1 and 5000),
    scope_kind    text not null check (scope_kind in ('national', 'province')),
    province_code text references provinces (code),
    created_by    bigint references users (id),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    deleted_at    timestamptz,
    check ((scope_kind = 'province') = (province_code is not null))
);
create index feedback_templates_category_idx on feedback_templates (category) where deleted_at is null;

-- The national defaults, in a function so a database emptied for tests gets them again;
-- a category that already has a national template is left alone.
create function seed_feedback_templates() returns integer
language sql
as $$
    with defaults (category, title, body) as (values
        ('complaint', 'Đã tiếp nhận và chuyển xử lý',
         'Ủy ban MTTQ đã tiếp nhận phản ánh của ông/bà và chuyển đến cơ quan có thẩm quyền. Cơ quan giải quyết đã trả lời như sau: …'),
        ('suggestion', 'Cảm ơn kiến nghị',
         'Cảm ơn ông/bà đã đóng góp ý kiến. Kiến nghị đã được chuyển đến cơ quan có thẩm quyền để nghiên cứu, tiếp thu: …'),
        ('question', 'Trả lời câu hỏi',
         'Về câu hỏi của ông/bà, cơ quan có thẩm quyền trả lời như sau: …'),
        ('wrongdoing_report', 'Kết quả xác minh tố giác',
         'Ủy ban MTTQ đã chuyển nội dung tố giác (đã che thông tin người tố giác) đến cơ quan có thẩm quyền xác minh. Kết quả: …'),
        ('praise', 'Ghi nhận ý kiến khen ngợi',
         'Cảm ơn ông/bà đã ghi nhận. Ý kiến đã được chuyển đến cán bộ và cơ quan liên quan.')
    ),
    inserted as (
        insert into feedback_templates (category, title, body, scope_kind)
        select d.category, d.title, d.body, 'national' from defaults d
        where not exists (select 1 from feedback_templates t where t.scope_kind = 'national' and t.category = d.category)
        returning 1
    )
    select count(*)::integer from inserted
$$;
select seed_feedback_templates();
