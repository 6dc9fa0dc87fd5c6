-- Reporter protection (backend/reporter_protection.py, services/front_grants.py): an item
-- that is or ever was a report of wrongdoing stays protected whatever its later category,
-- and every grant of a Front role is kept where the Front's oversight reads it.

-- Protection is a fact about the item, not its current category: recategorising must never
-- lift it (it did: reveal and triage read only the category).
alter table feedback add column if not exists protected boolean not null default false;

update feedback f set protected = true
where not f.protected
  and (f.category = 'wrongdoing_report'
       or exists (select 1 from feedback_events e
                  where e.feedback_id = f.id and e.data ->> 'category' = 'wrongdoing_report')
       or exists (select 1 from feedback_forwards w
                  where w.feedback_id = f.id and w.category = 'wrongdoing_report'));

-- Sticky in the database itself, whatever path writes the row.
create or replace function feedback_protection_sticky() returns trigger
language plpgsql as $$
begin
    if new.category = 'wrongdoing_report' then
        new.protected := true;
    end if;
    if tg_op = 'UPDATE' and old.protected then
        new.protected := true;
    end if;
    return new;
end
$$;

drop trigger if exists feedback_protection_sticky on feedback;
create trigger feedback_protection_sticky before insert or update on feedback
for each row execute function feedback_protection_sticky();

create index if not exists feedback_protected_idx on feedback (commune_code) where protected;

-- Every grant of a Front role, for the oversight one level up. `first_of_province` marks a
-- system admin's grant of a province's first Front supervisor (the only Front grant not
-- made by the Front itself).
create table if not exists front_role_grants (
    id                bigint generated always as identity primary key,
    user_id           bigint not null references users (id),
    role              text not null check (role in ('front_staff', 'front_supervisor')),
    scope_kind        text not null check (scope_kind in ('commune', 'province')),
    province_code     text not null references provinces (code),
    commune_code      text references communes (code),
    granted_by        bigint not null references users (id),
    first_of_province boolean not null default false,
    granted_at        timestamptz not null default now()
);
create index if not exists front_role_grants_province_idx on front_role_grants (province_code, granted_at);
