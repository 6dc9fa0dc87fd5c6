-- Proof of service. A rating is verified only when the app sends the dossier's rating code
-- (printed on the receipt); only such a rating holds the dossier's one slot (dossier_id).
-- A rating without the code is stored unverified and holds no slot, so several may name one
-- dossier code: the unique index on dossier_code goes.
--
-- Ratings verified before this release proved nothing (the receipt codes are sequential), so
-- they are un-verified and give up their slot, and marked so the change stays visible:
-- proof_revoked_at says when, and the real applicant can now rate the dossier with its code.

alter table dossiers add column if not exists rating_code_hash bytea;

drop index if exists ratings_dossier_code_key;
create index if not exists ratings_dossier_code_idx on ratings (dossier_code) where dossier_code is not null;

alter table ratings add column if not exists proof_revoked_at timestamptz;
update ratings set verified = false, dossier_id = null, proof_revoked_at = now()
where dossier_id is not null;

-- Wrong rating codes per dossier and local day: past a few, no code is checked for that dossier
-- that day, so codes cannot be guessed.
create table if not exists rating_code_failures (
    dossier_id bigint not null references dossiers (id) on delete cascade,
    day        date not null,
    failures   int not null default 0,
    primary key (dossier_id, day)
);
