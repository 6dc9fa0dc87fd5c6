-- Wrong rating codes per dossier, install and local day (backend/services/ratings.py).
-- With only the per-dossier count, anyone who knew a receipt number (they are sequential)
-- could send ten wrong codes and deny the applicant a verified rating for the rest of the
-- day, for every dossier of an official they wished to shield. Now an install's guesses at one
-- dossier stop being checked (and counted) after a few, and the dossier's own budget is large
-- enough that spending it takes many installs, yet small against 2^40 codes.
create table if not exists rating_code_install_failures (
    dossier_id bigint not null references dossiers (id) on delete cascade,
    citizen_id uuid not null references citizen_installs (id) on delete cascade,
    day        date not null,
    failures   int not null default 0,
    primary key (dossier_id, citizen_id, day)
);
