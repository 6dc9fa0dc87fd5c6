-- Push delivery (backend/services/notifications.py): the outcomes a delivery attempt can
-- record, and why a device stopped receiving pushes.
--   sent     FCM accepted it (fcm_message_id set)      logged  PUSH_PROVIDER=log recorded it
--   retry    FCM was unavailable or over quota; the outbox row is retried with backoff
--   retired  FCM said the target is gone or invalid; the device was retired
--   failed   refused for good (e.g. the message itself), or retries ran out
alter table notification_deliveries
    add constraint notification_deliveries_outcome_check
    check (outcome in ('sent', 'logged', 'retry', 'retired', 'failed'));

-- deleted: by its owner; reassigned: the target was registered by another account or
-- install; superseded: the owner has too many devices; else FCM's error code, lower case.
alter table devices
    add constraint devices_retired_reason_check
    check ((retired_at is null) = (retired_reason is null));

