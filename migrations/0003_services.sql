-- What a commune offers and who answers for it. An assignment has a validity interval so
-- a rating at time t links to whoever held the service at t; history is never rewritten.

create table commune_services (
    id             bigint generated always as identity primary key,
    commune_code   text not null references communes (code),
    procedure_code text not null references procedures (code),
    lead_agency    text not null check (length(lead_agency) between 1 and 200),
    lead_agency_en text,
    is_active      boolean not null default true,
    created_at     timestamptz not null default now(),
    unique (commune_code, procedure_code)
);

-- int8range(id, id, '[]') with = stands in for btree_gist's scalar equality, which the
-- embedded server lacks: no two assignments of one service may overlap in time.
create table assignments (
    id                 bigint generated always as identity primary key,
    commune_service_id bigint not null references commune_services (id),
    official_id        bigint not null references officials (id),
    valid              tstzrange not null,
    created_by         bigint references users (id),
    created_at         timestamptz not null default now(),
    check (not isempty(valid) and lower(valid) is not null and lower_inc(valid) and not upper_inc(valid)),
    constraint assignments_no_overlap exclude using gist (
        int8range(commune_service_id, commune_service_id, '[]') with =,
        valid with &&
    )
);
create index assignments_service_idx on assignments (commune_service_id, lower(valid));
create index assignments_official_idx on assignments (official_id);
