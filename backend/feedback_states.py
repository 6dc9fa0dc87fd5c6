"""The feedback lifecycle, as a pure transition table.

    received --triage--> triaged --forward--> forwarded --accept--> answered --close--> closed
        |                  |  ^                 |   ^                   |
        |                  |  +-----reopen------+---|-------------------+ (closed, answered, rejected)
        +--reject----------+--> rejected        +---+ send_back / answer / extend (stays forwarded)
        +--merge-----------+--> merged (terminal: the item follows its original)

* `triage` may be repeated while triaged (a category or priority corrected).
* `close` also ends a triaged item that needs no authority (praise, a question the Front
  answered in person).
* `reopen` brings a closed, answered or rejected item back to triaged (a citizen's dispute
  or a staff decision).
* `review` (the Front reads, perhaps edits, the masked copy a forward will carry) leaves
  the status alone; it is possible until the item is forwarded.
* Working actions (claim, release, assign, moderate) leave the status alone; they are
  refused on merged items, and claim/release/assign on finished ones too.

Pure: `transition(status, action)` returns the new status or raises InvalidTransition.
"""

from __future__ import annotations

from typing import Literal, get_args

Status = Literal["received", "triaged", "forwarded", "answered", "closed", "rejected", "merged"]
Action = Literal[
    "claim",
    "release",
    "assign",
    "triage",
    "merge",
    "reject",
    "moderate",
    "review",
    "forward",
    "answer",
    "extend",
    "accept",
    "send_back",
    "close",
    "reopen",
]

STATUSES: tuple[Status, ...] = get_args(Status)
ACTIONS: tuple[Action, ...] = get_args(Action)
OPEN_STATUSES: tuple[Status, ...] = ("received", "triaged", "forwarded", "answered")
"""Statuses still on the Front's desk (the queue's default tab)."""
FINISHED_STATUSES: tuple[Status, ...] = ("closed", "rejected", "merged")


class InvalidTransition(Exception):
    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"cannot {action} feedback that is {status}")
        self.status, self.action = status, action


def _same(*statuses: Status) -> dict[Status, Status]:
    return {s: s for s in statuses}


TRANSITIONS: dict[Action, dict[Status, Status]] = {
    "claim": _same(*OPEN_STATUSES),
    "release": _same(*OPEN_STATUSES),
    "assign": _same(*OPEN_STATUSES),
    "triage": {"received": "triaged", "triaged": "triaged"},
    "merge": {"received": "merged", "triaged": "merged"},
    "reject": {"received": "rejected", "triaged": "rejected"},
    "moderate": _same("received", "triaged", "forwarded", "answered", "closed", "rejected"),
    "review": _same("received", "triaged"),
    "forward": {"triaged": "forwarded"},
    "answer": _same("forwarded"),
    "extend": _same("forwarded"),
    "accept": {"forwarded": "answered"},
    "send_back": _same("forwarded"),
    "close": {"answered": "closed", "triaged": "closed"},
    "reopen": {"closed": "triaged", "answered": "triaged", "rejected": "triaged"},
}

MERGE_TARGETS: frozenset[Status] = frozenset({"received", "triaged", "forwarded", "answered", "closed"})
"""Statuses an original may have when a duplicate is merged into it."""


def transition(status: str, action: str) -> Status:
    """The status after `action` on an item that is `status`; InvalidTransition if not allowed."""
    allowed = TRANSITIONS.get(action)  # type: ignore[call-overload]
    if allowed is None:
        raise InvalidTransition(status, action)
    new = allowed.get(status)
    if new is None:
        raise InvalidTransition(status, action)
    result: Status = new
    return result


def allowed_actions(status: str) -> list[Action]:
    """What may be done to an item that is `status`, in ACTIONS order (for the staff UI)."""
    return [a for a in ACTIONS if status in TRANSITIONS[a]]
