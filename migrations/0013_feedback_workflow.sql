-- The Front's workflow on feedback (backend/services/feedback_workflow.py, front_queue.py):
-- what a forwarded copy carries and how the authority's answer goes back and forth, the
-- queue's indexes, and the word pairs that suggest duplicates.

-- The forwarded copy is self-contained, so authorities never read feedback: its category
-- and service travel with it. An answer sent back keeps the reason; one extension is allowed.
alter table feedback_forwards
    add column category           text check (category in ('suggestion', 'complaint', 'wrongdoing_report',
                                                           'question', 'praise')),
    add column commune_service_id bigint references commune_services (id),
    add column sent_back_at       timestamptz,
    add column sent_back_reason   text,
    add column extended_at        timestamptz,
    add column extended_by        bigint references users (id),
    add column updated_at         timestamptz not null default now(),
    add constraint feedback_forwards_extension_check
        check ((extended_due_at is null) = (extended_at is null) and (extended_due_at is null or extended_due_at > due_at));

-- One forward awaiting an answer per item at a time.
create unique index feedback_forwards_live_key on feedback_forwards (feedback_id) where status in ('open', 'sent_back');
-- Forwards addressed to a commune's People's Committee (no official), for its chairs.
create index feedback_forwards_committee_idx on feedback_forwards (commune_code, status) where official_id is null;

create index feedback_merged_into_idx on feedback (merged_into_id) where merged_into_id is not null;
create index feedback_assigned_idx on feedback (assigned_to, status) where assigned_to is not null;
create index feedback_commune_service_idx on feedback (commune_code, commune_service_id, created_at);

-- Distinct pairs of neighbouring words of a folded text ("ket hon", "hon qua"): similar
-- texts share many. The Jaccard index of two items' pairs, without pg_trgm (the embedded
-- server has no extensions), ranks likely duplicates.
create function feedback_word_pairs(folded text) returns text[]
language sql immutable parallel safe
return array(
    select distinct p.word || ' ' || p.next_word
    from (select w.word, lead(w.word) over (order by w.position) as next_word
          from unnest(regexp_split_to_array(folded, '[^a-z0-9]+')) with ordinality as w(word, position)
          where w.word <> '') p
    where p.next_word is not null
);

create function jaccard(a text[], b text[]) returns double precision
language sql immutable parallel safe
return (select case when count(*) = 0 then 0 else count(*) filter (where x.in_a and x.in_b)::double precision / count(*) end
        from (select coalesce(s.in_a, false) as in_a, coalesce(t.in_b, false) as in_b
              from (select distinct unnest(a) as v, true as in_a) s
              full join (select distinct unnest(b) as v, true as in_b) t on s.v = t.v) x);
