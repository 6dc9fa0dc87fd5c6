-- Append-only audit log (logins, grants, API keys, reveals of a reporter's identity...).
-- Triggers refuse updates, deletes and truncation so the record cannot be quietly rewritten.

create table audit_log (
    id                bigint generated always as identity primary key,
    occurred_at       timestamptz not null default now(),
    actor_kind        text not null check (actor_kind in ('staff', 'citizen', 'api_key', 'system', 'anonymous')),
    actor_user_id     bigint references users (id),
    actor_citizen_id  uuid references citizen_installs (id),
    actor_api_key_id  bigint references api_keys (id),
    action            text not null,
    object_kind       text,
    object_id         text,
    reason            text,
    data              jsonb not null default '{}',
    request_id        text
);
create index audit_log_object_idx on audit_log (object_kind, object_id, occurred_at);
create index audit_log_actor_idx on audit_log (actor_user_id, occurred_at) where actor_user_id is not null;

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only';
end
$$;

create trigger audit_log_append_only
    before update or delete on audit_log
    for each statement execute function audit_log_is_append_only();

create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_log_is_append_only();
