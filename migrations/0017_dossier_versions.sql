-- Dossier versions are bounded at 2^53 (exact in every JSON client). A version stored above
-- that by an earlier release would freeze its dossier (no later event could beat it), so it is
-- brought down to the bound, where a later event with the top version and a later time still wins.

update dossiers set event_version = 9007199254740992 where event_version > 9007199254740992;

alter table dossiers drop constraint if exists dossiers_event_version_bounded;
alter table dossiers add constraint dossiers_event_version_bounded
    check (event_version between 0 and 9007199254740992);
