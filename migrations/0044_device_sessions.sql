-- A staff device belongs to the session it was registered in (backend/services/devices.py).
-- Before, logging out ended the session's tokens but its phone kept receiving the chair's
-- alerts and the Front's forward notices until the app remembered to delete the device: a
-- phone handed back, lost or shared went on showing them. Now ending a session (logout,
-- refresh-token reuse) retires the devices registered in it, in the same statement.
alter table devices add column if not exists session_family_id uuid;
create index if not exists devices_live_session_idx on devices (session_family_id)
    where session_family_id is not null and retired_at is null;
