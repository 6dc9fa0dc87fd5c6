-- Who acts in the system: staff users with scoped roles, officials (who may or may not
-- have an account), anonymous citizen app installs, machine API keys and push devices.

create table users (
    id                  bigint generated always as identity primary key,
    username            text not null check (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    password_hash       text not null,
    display_name        text not null check (length(display_name) between 1 and 200),
    phone               text,
    email               text,
    is_active           boolean not null default true,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    password_changed_at timestamptz not null default now()
);
create unique index users_username_key on users (username);

-- A role is always held within a scope. Which scope kinds a role may take is fixed here,
-- so a "commune chair of a province" can never exist.
create table user_roles (
    id            bigint generated always as identity primary key,
    user_id       bigint not null references users (id) on delete cascade,
    role          text not null check (role in ('commune_chair', 'commune_official', 'front_staff',
                                                'front_supervisor', 'province_admin', 'system_admin')),
    scope_kind    text not null check (scope_kind in ('commune', 'province', 'national')),
    province_code text references provinces (code),
    commune_code  text references communes (code),
    granted_by    bigint references users (id),
    granted_at    timestamptz not null default now(),
    check (
        (scope_kind = 'national' and province_code is null and commune_code is null)
        or (scope_kind = 'province' and province_code is not null and commune_code is null)
        or (scope_kind = 'commune' and commune_code is not null and province_code is null)
    ),
    check (case role
        when 'commune_chair' then scope_kind = 'commune'
        when 'commune_official' then scope_kind = 'commune'
        when 'province_admin' then scope_kind = 'province'
        when 'system_admin' then scope_kind = 'national'
        else scope_kind in ('commune', 'province')
    end)
);
create unique index user_roles_unique_grant
    on user_roles (user_id, role, scope_kind, coalesce(province_code, ''), coalesce(commune_code, ''));
create index user_roles_commune_idx on user_roles (commune_code) where commune_code is not null;
create index user_roles_province_idx on user_roles (province_code) where province_code is not null;

-- Refresh tokens of staff logins; only a hash is kept.
create table staff_sessions (
    id           uuid primary key default gen_random_uuid(),
    user_id      bigint not null references users (id) on delete cascade,
    refresh_hash bytea not null unique,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    revoked_at   timestamptz,
    user_agent   text
);
create index staff_sessions_user_idx on staff_sessions (user_id);

-- Officials are the people ratings and feedback are about. Many have no account.
create table officials (
    id           bigint generated always as identity primary key,
    commune_code text not null references communes (code),
    full_name    text not null check (length(full_name) between 1 and 200),
    position     text not null check (length(position) between 1 and 200),
    position_en  text,
    user_id      bigint unique references users (id),
    is_active    boolean not null default true,
    created_at   timestamptz not null default now()
);
create index officials_commune_idx on officials (commune_code);

-- An anonymous citizen is an app install. The install secret (returned once) guards
-- re-issuing a token for an install id somebody else may have learnt.
create table citizen_installs (
    id           uuid primary key default gen_random_uuid(),
    install_id   text not null unique check (length(install_id) between 8 and 200),
    secret_hash  bytea not null,
    platform     text not null check (platform in ('android', 'ios', 'web')),
    locale       text not null default 'vi' check (locale in ('vi', 'en')),
    app_version  text,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    blocked_at   timestamptz
);

create table api_keys (
    id            bigint generated always as identity primary key,
    name          text not null check (length(name) between 1 and 200),
    prefix        text not null unique,
    secret_hash   bytea not null,
    scope_kind    text not null check (scope_kind in ('commune', 'province', 'national')),
    province_code text references provinces (code),
    commune_code  text references communes (code),
    created_by    bigint references users (id),
    created_at    timestamptz not null default now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    check (
        (scope_kind = 'national' and province_code is null and commune_code is null)
        or (scope_kind = 'province' and province_code is not null and commune_code is null)
        or (scope_kind = 'commune' and commune_code is not null and province_code is null)
    )
);

-- Where pushes go. firebase-admin 7.7 addresses installations by FID; older apps still
-- send a registration token. Targets FCM reports as unregistered get retired_at.
create table devices (
    id                 bigint generated always as identity primary key,
    user_id            bigint references users (id) on delete cascade,
    citizen_id         uuid references citizen_installs (id) on delete cascade,
    fid                text,
    registration_token text,
    platform           text not null check (platform in ('android', 'ios', 'web')),
    locale             text not null default 'vi' check (locale in ('vi', 'en')),
    quiet_start        time not null default '22:00',
    quiet_end          time not null default '06:00',
    created_at         timestamptz not null default now(),
    last_seen_at       timestamptz not null default now(),
    retired_at         timestamptz,
    retired_reason     text,
    check (num_nonnulls(user_id, citizen_id) = 1),
    check (num_nonnulls(fid, registration_token) = 1)
);
create unique index devices_live_fid_key on devices (fid) where fid is not null and retired_at is null;
create unique index devices_live_token_key on devices (registration_token)
    where registration_token is not null and retired_at is null;
create index devices_user_idx on devices (user_id) where user_id is not null;
create index devices_citizen_idx on devices (citizen_id) where citizen_id is not null;
