-- Refresh-token families: every rotation keeps its family, so reuse of a rotated token can
-- end the whole family; access tokens carry the family id (`sid`) and are refused once
-- their family has ended (logout, reuse detected).
alter table staff_sessions add column family_id uuid;
alter table staff_sessions add column revoked_reason text
    check (revoked_reason in ('rotated', 'logout', 'reuse', 'deactivated'));
update staff_sessions set family_id = id;
update staff_sessions set revoked_reason = 'rotated' where revoked_at is not null;
-- A session opened without naming a family starts its own.
alter table staff_sessions alter column family_id set default gen_random_uuid();
alter table staff_sessions alter column family_id set not null;
create index staff_sessions_family_idx on staff_sessions (family_id);

-- Families that have ended. Small (one row per logout) and read by primary key on every
-- staff request, in the query that already loads the staff member's roles.
create table ended_session_families (
    family_id uuid primary key,
    user_id   bigint not null references users (id) on delete cascade,
    reason    text not null check (reason in ('logout', 'reuse')),
    ended_at  timestamptz not null default now()
);
