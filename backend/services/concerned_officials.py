"""Who a report of wrongdoing is about, as a SQL condition checked whenever a forward is read
or its authority is told, not only when it is sent.

A forward to the commune's People's Committee is addressed to whoever holds the chair role
when it is read, and a forward to an official to whoever is linked to that official then.
Accounts change after the forward: the official concerned may be given an acting chair's
account, or the account of a chair who turns out to be concerned may be linked to its
official afterwards. The routing check at forward time (backend.services.feedback_routing)
cannot see those; this condition keeps the forward away from them all the same.

The officials concerned are the ones routing counts (ROUTING_FACTS_SQL): the one named on the
item, any linked to it in triage (from its history), and whoever held its service when it was
filed. An item that is not protected is not restricted here.
"""

from __future__ import annotations


def not_concerned(user: str, feedback: str) -> str:
    """SQL true unless the item `feedback` (an id expression) is protected and the account
    `user` (an id expression) is linked, now, to an official it concerns."""
    return f"""not exists (
    select 1 from feedback cf join officials co on co.user_id = {user}
    where cf.id = {feedback} and cf.protected
      and (co.id = cf.official_id
           or exists (select 1 from feedback_events ce
                      where ce.feedback_id = cf.id and jsonb_typeof(ce.data -> 'official_id') = 'number'
                        and (ce.data ->> 'official_id')::bigint = co.id)
           or exists (select 1 from assignments ca
                      where ca.commune_service_id = cf.commune_service_id and ca.valid @> cf.created_at
                        and ca.official_id = co.id)))"""
