-- What each app install has used of its daily feedback budget (items, photo bytes as sent),
-- per local day (Asia/Ho_Chi_Minh). Incremented in the submission's own transaction before
-- the item is stored, so a refused or failed submission leaves no trace.
create table install_daily_usage (
    citizen_id     uuid not null references citizen_installs (id) on delete cascade,
    local_day      date not null,
    feedback_items integer not null default 0 check (feedback_items >= 0),
    photo_bytes    bigint not null default 0 check (photo_bytes >= 0),
    primary key (citizen_id, local_day)
);
