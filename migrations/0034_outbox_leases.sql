-- Crash-safe push delivery (backend/services/notifications.py). A claimed outbox row names
-- its holder (a worker_heartbeats.worker_id, or null outside a worker) and the round that
-- holds it; the lease (next_attempt_at) is short and renewed while the round works. A worker
-- starting on the same host releases at once the rows of holders whose process is gone.
alter table notification_outbox
    add column lease_holder uuid,
    add column lease_token uuid;

create index notification_outbox_lease_holder_idx on notification_outbox (lease_holder)
    where lease_token is not null;
