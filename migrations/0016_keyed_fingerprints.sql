-- Request fingerprints become keyed (HMAC-SHA256 under FINGERPRINT_KEYS, which never enter
-- the database; backend/crypto.py Fingerprints). The plain SHA-256 digests stored so far
-- cover the feedback's contact details and the citizen's own words: with a dump, anyone
-- could confirm a guessed name or phone number, or try every phone number in a minute.
-- They cannot be converted here (the key must not reach the database), so they are
-- dropped: a retry of an older request is then recognised by its idempotency key alone.

update feedback set request_hash = null where request_hash is not null;

alter table ratings alter column request_hash drop not null;
update ratings set request_hash = null where request_hash is not null;

-- A dispute's event kept a plain digest of its reason for replays.
update feedback_events set data = data - 'reason_sha256' where data ? 'reason_sha256';
