-- Citizens' feedback (backend/services/feedback_citizen.py): public references, the shape
-- of what is stored about the reporter, and the photos' order.

-- References look like GY-2026-000123 (GY: góp ý). One national sequence: nothing to lock
-- per year or commune, and a number never repeats, so a reference read out over the phone
-- names one item. (The demo history uses GY-<commune>-<n>, which cannot collide.)
create sequence feedback_reference_seq;

-- Contact is nonce (12 bytes) + ciphertext + tag (16 bytes): never a plaintext column.
alter table feedback
    add constraint feedback_contact_sealed check (contact_ciphertext is null or length(contact_ciphertext) > 28);

-- The photos in the order the citizen sent them; their type is sniffed from the bytes,
-- never taken from the request.
alter table feedback_attachments
    add column position smallint not null default 0 check (position between 0 and 4),
    add constraint feedback_attachments_position_key unique (feedback_id, position),
    add constraint feedback_attachments_sha256_length check (length(sha256) = 32);
