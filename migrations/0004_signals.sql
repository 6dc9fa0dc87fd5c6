-- The raw signals: dossiers reported by the one-stop shop, citizens' ratings and the
-- feedback the Front works on.

-- Dossier codes printed on one-stop-shop receipts embed the receiving agency's code, so
-- they are unique nationally; a citizen types one to rate that case.
create table dossiers (
    id                 bigint generated always as identity primary key,
    code               text not null unique check (length(code) between 3 and 100),
    commune_service_id bigint not null references commune_services (id),
    status             text not null check (status in ('received', 'processing', 'completed', 'cancelled')),
    received_at        timestamptz not null,
    due_at             timestamptz,
    due_derived        boolean not null default false,
    completed_at       timestamptz,
    cancelled_at       timestamptz,
    -- Events arrive twice and out of order: an older event never overwrites a newer state.
    event_version      bigint not null default 0,
    event_at           timestamptz not null,
    source_api_key_id  bigint references api_keys (id),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    check (due_at is null or due_at >= received_at),
    check (completed_at is null or completed_at >= received_at),
    check ((status = 'completed') = (completed_at is not null)),
    check ((status = 'cancelled') = (cancelled_at is not null))
);
create index dossiers_service_received_idx on dossiers (commune_service_id, received_at);

create table ratings (
    id                 bigint generated always as identity primary key,
    citizen_id         uuid not null references citizen_installs (id),
    commune_service_id bigint not null references commune_services (id),
    commune_code       text not null references communes (code),
    official_id        bigint references officials (id),
    assignment_id      bigint references assignments (id),
    dossier_code       text,
    dossier_id         bigint unique references dossiers (id),
    verified           boolean not null default false,
    score              smallint not null check (score between 1 and 5),
    score_access       smallint check (score_access between 1 and 5),
    score_procedure    smallint check (score_procedure between 1 and 5),
    score_attitude     smallint check (score_attitude between 1 and 5),
    score_result       smallint check (score_result between 1 and 5),
    score_timeliness   smallint check (score_timeliness between 1 and 5),
    comment            text check (char_length(comment) <= 2000),
    channel            text not null check (channel in ('app', 'web', 'kiosk')),
    served_at          timestamptz not null,
    client_created_at  timestamptz,
    created_at         timestamptz not null default now(),
    idempotency_key    text not null check (length(idempotency_key) between 1 and 200),
    request_hash       bytea not null,
    unique (citizen_id, idempotency_key),
    check (not verified or dossier_id is not null)
);
create index ratings_service_served_idx on ratings (commune_service_id, served_at);
create index ratings_commune_served_idx on ratings (commune_code, served_at);
create index ratings_official_served_idx on ratings (official_id, served_at) where official_id is not null;
create index ratings_citizen_idx on ratings (citizen_id, id);

create table feedback (
    id                 bigint generated always as identity primary key,
    reference          text not null unique,
    citizen_id         uuid references citizen_installs (id),
    category           text not null check (category in ('suggestion', 'complaint', 'wrongdoing_report',
                                                          'question', 'praise')),
    commune_code       text not null references communes (code),
    commune_service_id bigint references commune_services (id),
    official_id        bigint references officials (id),
    status             text not null default 'received'
                       check (status in ('received', 'triaged', 'forwarded', 'answered', 'closed',
                                         'rejected', 'merged')),
    priority           text not null default 'normal' check (priority in ('low', 'normal', 'high', 'urgent')),
    body               text not null check (char_length(body) between 1 and 5000),
    body_search        text generated always as (fold_vi(body)) stored,
    is_anonymous       boolean not null,
    -- Contact and identity are only ever stored encrypted (AES-GCM); key_id allows rotation.
    contact_ciphertext bytea,
    contact_key_id     text,
    merged_into_id     bigint references feedback (id),
    assigned_to        bigint references users (id),
    lease_holder       bigint references users (id),
    lease_expires_at   timestamptz,
    response_due_at    timestamptz,
    overdue_since      timestamptz,
    escalated_at       timestamptz,
    answer             text,
    answered_at        timestamptz,
    answer_rating      smallint check (answer_rating between 1 and 5),
    reject_reason      text,
    version            integer not null default 1,
    idempotency_key    text,
    request_hash       bytea,
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    unique (citizen_id, idempotency_key),
    check ((status = 'merged') = (merged_into_id is not null)),
    check (merged_into_id is null or merged_into_id <> id),
    check (not is_anonymous or contact_ciphertext is null),
    check ((contact_ciphertext is null) = (contact_key_id is null))
);
create index feedback_commune_status_idx on feedback (commune_code, status, created_at);
create index feedback_due_idx on feedback (response_due_at) where status = 'forwarded';
create index feedback_citizen_idx on feedback (citizen_id, id);

-- What is forwarded to an authority is a redacted copy: no reporter identity, phone and
-- ID numbers masked. Authorities read this table, never feedback.
create table feedback_forwards (
    id                bigint generated always as identity primary key,
    feedback_id       bigint not null references feedback (id),
    official_id       bigint references officials (id),
    commune_code      text not null references communes (code),
    redacted_body     text not null,
    due_at            timestamptz not null,
    extended_due_at   timestamptz,
    extension_reason  text,
    answer            text,
    answered_at       timestamptz,
    answered_by       bigint references users (id),
    status            text not null default 'open'
                      check (status in ('open', 'answered', 'sent_back', 'withdrawn')),
    created_by        bigint references users (id),
    created_at        timestamptz not null default now()
);
create index feedback_forwards_feedback_idx on feedback_forwards (feedback_id);
create index feedback_forwards_official_idx on feedback_forwards (official_id, status);

create table feedback_attachments (
    id           bigint generated always as identity primary key,
    feedback_id  bigint not null references feedback (id),
    storage_key  text not null unique,
    content_type text not null check (content_type in ('image/jpeg', 'image/png', 'image/heic')),
    size_bytes   integer not null check (size_bytes between 1 and 5242880),
    sha256       bytea not null,
    created_at   timestamptz not null default now()
);
create index feedback_attachments_feedback_idx on feedback_attachments (feedback_id);

-- Every transition of a feedback item, with who did it and why.
create table feedback_events (
    id                 bigint generated always as identity primary key,
    feedback_id        bigint not null references feedback (id),
    kind               text not null,
    from_status        text,
    to_status          text,
    actor_kind         text not null check (actor_kind in ('citizen', 'staff', 'official', 'system')),
    actor_user_id      bigint references users (id),
    reason             text,
    data               jsonb not null default '{}',
    visible_to_citizen boolean not null default false,
    created_at         timestamptz not null default now()
);
create index feedback_events_feedback_idx on feedback_events (feedback_id, id);
