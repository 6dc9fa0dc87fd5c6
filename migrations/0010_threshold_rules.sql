-- Threshold rules become manageable: the indicators a rule may watch are fixed here,
-- rules are soft-deleted (alerts keep pointing at the rule that fired them, and deleting
-- an override must let the scope fall back to the inherited rule), and the view
-- effective_threshold_rules resolves national -> province -> commune inheritance once,
-- for one commune (the chair's screen) or for all of them (the evaluator's sweep).

alter table threshold_rules
    add constraint threshold_rules_indicator_check check (indicator in (
        'satisfaction_rate', 'verified_share', 'on_time_rate', 'mean_score', 'feedback_backlog', 'feedback_overdue'
    ));

alter table threshold_rules add column deleted_at timestamptz;

drop index threshold_rules_one_per_scope;
create unique index threshold_rules_one_per_scope
    on threshold_rules (indicator, scope_kind, coalesce(province_code, ''), coalesce(commune_code, ''))
    where deleted_at is null;
create index threshold_rules_commune_idx on threshold_rules (commune_code)
    where deleted_at is null and scope_kind = 'commune';
create index threshold_rules_province_idx on threshold_rules (province_code)
    where deleted_at is null and scope_kind = 'province';
create index threshold_rules_national_idx on threshold_rules (indicator)
    where deleted_at is null and scope_kind = 'national';

-- One row per commune and indicator that has any rule: the commune's own rule, else its
-- province's, else the national one. A disabled override wins too (enabled = false
-- switches the indicator off for its scope), so callers filter on enabled themselves.
-- Three branches joined by equality rather than one join on an OR, so many overrides do
-- not multiply the work; precedence is decided on narrow rows before the rule is joined.
-- province_code is among the DISTINCT ON keys (it follows from the commune) so that a
-- filter on it, like one on commune_code, reaches into the branches.
create view effective_threshold_rules as
select x.commune_code, x.province_code, r.id as rule_id, r.indicator, r.comparator, r.value, r.window_spec,
       r.min_sample, r.for_seconds, r.hysteresis, r.severity, r.repeat_seconds, r.escalation_seconds,
       r.enabled, r.scope_kind as inherited_from
from (
    select distinct on (u.commune_code, u.province_code, u.indicator) u.commune_code, u.province_code, u.rule_id
    from (
        select c.code as commune_code, c.province_code, r.indicator, r.id as rule_id, 0 as precedence
        from threshold_rules r
        join communes c on c.code = r.commune_code
        where r.scope_kind = 'commune' and r.deleted_at is null
        union all
        select c.code, c.province_code, r.indicator, r.id, 1
        from threshold_rules r
        join communes c on c.province_code = r.province_code
        where r.scope_kind = 'province' and r.deleted_at is null
        union all
        select c.code, c.province_code, r.indicator, r.id, 2
        from threshold_rules r
        cross join communes c
        where r.scope_kind = 'national' and r.deleted_at is null
    ) u
    order by u.commune_code, u.province_code, u.indicator, u.precedence
) x
join threshold_rules r on r.id = x.rule_id;

-- National defaults, kept in a function so a database emptied for tests (or an operator
-- restoring defaults) gets exactly these again. A default deleted on purpose is not
-- brought back: an indicator with any national row, deleted or not, is left alone.
--
-- Judged on the interval (the evaluator fires a 'below' rule only when the Wilson upper
-- bound is under the value), with at least min_sample ratings or dossiers, so three bad
-- ratings in a small commune page nobody. For that reason the two headline rules fire
-- without a `for` delay: the interval already demands evidence, and a chair should know
-- within seconds. None is critical: critical is for overrides
-- a province or commune chooses.
create function seed_national_threshold_rules() returns integer
    language sql
as $$
    with defaults (indicator, comparator, value, window_spec, min_sample, for_seconds, hysteresis, severity,
                   repeat_seconds, escalation_seconds) as (
        values
            -- Fewer than 80 % of citizens satisfied (score >= 4) over 30 days.
            ('satisfaction_rate', 'below', 0.80::float8, '30d', 20, 0, 0.05::float8, 'warning', 86400, 259200),
            -- Fewer than 90 % of dossiers completed by their due date over 30 days.
            ('on_time_rate', 'below', 0.90, '30d', 20, 0, 0.03, 'warning', 86400, 259200),
            -- Any feedback past its legal response deadline: a fact, not a sample.
            ('feedback_overdue', 'above', 0, '7d', 1, 0, 0, 'warning', 86400, 259200),
            -- Most ratings not backed by a dossier of the one-stop shop: dossier events are
            -- not arriving, or ratings come from outside. Worth knowing, not worth a wake-up.
            ('verified_share', 'below', 0.20, '30d', 50, 86400, 0.05, 'info', 0, null::integer)
    ),
    inserted as (
        insert into threshold_rules (indicator, comparator, value, window_spec, min_sample, for_seconds, hysteresis,
                                     severity, repeat_seconds, escalation_seconds, scope_kind)
        select d.indicator, d.comparator, d.value, d.window_spec, d.min_sample, d.for_seconds, d.hysteresis,
               d.severity, d.repeat_seconds, d.escalation_seconds, 'national'
        from defaults d
        where not exists (
            select 1 from threshold_rules r where r.scope_kind = 'national' and r.indicator = d.indicator
        )
        on conflict (indicator, scope_kind, coalesce(province_code, ''), coalesce(commune_code, ''))
            where deleted_at is null do nothing
        returning 1
    )
    select count(*)::integer from inserted
$$;

select seed_national_threshold_rules();
