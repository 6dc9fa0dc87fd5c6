-- What the ratings and dossier-event endpoints enforce beyond 0004:
-- one rating per dossier code even before the one-stop shop has reported that dossier
-- (the rating is then unverified, and becomes verified when the completion arrives).
-- The per-install daily limit counts today's ratings of an install on every write: with
-- created_at in the index that touches at most the limit's worth of entries. The same
-- index serves "my ratings" (an install has few), so the (citizen_id, id) one goes.

create unique index ratings_dossier_code_key on ratings (dossier_code) where dossier_code is not null;
create index ratings_citizen_created_idx on ratings (citizen_id, created_at);
drop index ratings_citizen_idx;

-- Why an assignment ended (rotation, leave...), shown in the service's history.
alter table assignments add column note text check (char_length(note) <= 500);

