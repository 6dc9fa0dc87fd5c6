-- The watching side: hourly rollups (indicator reads never scan raw ratings), threshold
-- rules inherited national -> province -> commune, alerts with their timeline, and the
-- notification outbox written in the same transaction as the alert change.

-- One row per UTC hour x commune service x accountable official (0 = nobody assigned).
create table rating_rollups_hourly (
    hour               timestamptz not null,
    commune_service_id bigint not null references commune_services (id),
    official_id        bigint not null default 0,
    commune_code       text not null,
    province_code      text not null,
    ratings            integer not null default 0,
    satisfied          integer not null default 0,
    verified           integer not null default 0,
    score_sum          integer not null default 0,
    score_counts       integer[] not null default '{0,0,0,0,0}',
    dim_sums           integer[] not null default '{0,0,0,0,0}',
    dim_counts         integer[] not null default '{0,0,0,0,0}',
    primary key (commune_service_id, official_id, hour)
);
create index rating_rollups_commune_idx on rating_rollups_hourly (commune_code, hour);
create index rating_rollups_province_idx on rating_rollups_hourly (province_code, hour);

-- Processing times are kept as a histogram (fixed bucket edges in hours, defined in code)
-- so medians and p90s come from rollups too.
create table dossier_rollups_hourly (
    hour               timestamptz not null,
    commune_service_id bigint not null references commune_services (id),
    commune_code       text not null,
    province_code      text not null,
    received           integer not null default 0,
    completed          integer not null default 0,
    completed_on_time  integer not null default 0,
    processing_hist    integer[] not null default '{}',
    primary key (commune_service_id, hour)
);
create index dossier_rollups_commune_idx on dossier_rollups_hourly (commune_code, hour);
create index dossier_rollups_province_idx on dossier_rollups_hourly (province_code, hour);

create table threshold_rules (
    id                 bigint generated always as identity primary key,
    indicator          text not null,
    comparator         text not null check (comparator in ('below', 'above')),
    value              double precision not null,
    window_spec        text not null check (window_spec in ('7d', '30d', '90d', 'day', 'week', 'month')),
    min_sample         integer not null default 20 check (min_sample >= 1),
    for_seconds        integer not null default 0 check (for_seconds >= 0),
    hysteresis         double precision not null default 0 check (hysteresis >= 0),
    severity           text not null default 'warning' check (severity in ('info', 'warning', 'critical')),
    repeat_seconds     integer not null default 86400 check (repeat_seconds >= 0),
    escalation_seconds integer check (escalation_seconds > 0),
    scope_kind         text not null check (scope_kind in ('national', 'province', 'commune')),
    province_code      text references provinces (code),
    commune_code       text references communes (code),
    enabled            boolean not null default true,
    created_by         bigint references users (id),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    check (
        (scope_kind = 'national' and province_code is null and commune_code is null)
        or (scope_kind = 'province' and province_code is not null and commune_code is null)
        or (scope_kind = 'commune' and commune_code is not null and province_code is null)
    )
);
create unique index threshold_rules_one_per_scope
    on threshold_rules (indicator, scope_kind, coalesce(province_code, ''), coalesce(commune_code, ''));

create table alerts (
    id                 bigint generated always as identity primary key,
    rule_id            bigint not null references threshold_rules (id),
    indicator          text not null,
    scope_kind         text not null check (scope_kind in ('commune', 'province', 'national')),
    scope_code         text not null,
    commune_code       text references communes (code),
    province_code      text references provinces (code),
    state              text not null check (state in ('pending', 'firing', 'acknowledged', 'resolved')),
    severity           text not null check (severity in ('info', 'warning', 'critical')),
    value              double precision,
    sample_size        integer,
    ci_low             double precision,
    ci_high            double precision,
    pending_since      timestamptz not null,
    fired_at           timestamptz,
    acknowledged_at    timestamptz,
    acknowledged_by    bigint references users (id),
    resolved_at        timestamptz,
    last_notified_at   timestamptz,
    escalated_at       timestamptz,
    silenced_until     timestamptz,
    silence_reason     text,
    silenced_by        bigint references users (id),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now()
);
-- Alertmanager-style deduplication: one open alert per rule and scope.
create unique index alerts_one_open on alerts (rule_id, scope_kind, scope_code) where state <> 'resolved';
create index alerts_commune_idx on alerts (commune_code, state);
create index alerts_province_idx on alerts (province_code, state);

create table alert_events (
    id            bigint generated always as identity primary key,
    alert_id      bigint not null references alerts (id),
    kind          text not null,
    from_state    text,
    to_state      text,
    actor_user_id bigint references users (id),
    value         double precision,
    sample_size   integer,
    data          jsonb not null default '{}',
    created_at    timestamptz not null default now()
);
create index alert_events_alert_idx on alert_events (alert_id, id);

-- A push is intended here first, in the transaction that changed the alert or feedback;
-- the worker delivers it. dedupe_key makes a transition impossible to push twice.
create table notification_outbox (
    id              bigint generated always as identity primary key,
    dedupe_key      text not null unique,
    user_id         bigint references users (id),
    citizen_id      uuid references citizen_installs (id),
    kind            text not null,
    alert_id        bigint references alerts (id),
    feedback_id     bigint references feedback (id),
    title_vi        text not null,
    body_vi         text not null,
    title_en        text not null,
    body_en         text not null,
    data            jsonb not null default '{}',
    critical        boolean not null default false,
    not_before      timestamptz not null default now(),
    status          text not null default 'pending'
                    check (status in ('pending', 'delivered', 'partially_delivered', 'failed', 'no_target')),
    attempts        integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error      text,
    created_at      timestamptz not null default now(),
    finished_at     timestamptz,
    check (num_nonnulls(user_id, citizen_id) = 1)
);
create index notification_outbox_due_idx on notification_outbox (next_attempt_at) where status = 'pending';

create table notification_deliveries (
    id             bigint generated always as identity primary key,
    outbox_id      bigint not null references notification_outbox (id),
    device_id      bigint not null references devices (id),
    outcome        text not null,
    fcm_message_id text,
    error_code     text,
    attempted_at   timestamptz not null default now()
);
create index notification_deliveries_outbox_idx on notification_deliveries (outbox_id);
