"""The feedback lifecycle, table-driven: every status against every action. Pure, no I/O."""

from __future__ import annotations

import pytest

from backend.feedback_states import ACTIONS, STATUSES, InvalidTransition, allowed_actions, transition

# Rows: action; columns: received, triaged, forwarded, answered, closed, rejected, merged.
# "." means the action is refused (409 invalid_feedback_transition); "=" keeps the status.
EXPECTED = {
    "claim": ("=", "=", "=", "=", ".", ".", "."),
    "release": ("=", "=", "=", "=", ".", ".", "."),
    "assign": ("=", "=", "=", "=", ".", ".", "."),
    "triage": ("triaged", "=", ".", ".", ".", ".", "."),
    "merge": ("merged", "merged", ".", ".", ".", ".", "."),
    "reject": ("rejected", "rejected", ".", ".", ".", ".", "."),
    "moderate": ("=", "=", "=", "=", "=", "=", "."),
    "review": ("=", "=", ".", ".", ".", ".", "."),
    "forward": (".", "forwarded", ".", ".", ".", ".", "."),
    "answer": (".", ".", "=", ".", ".", ".", "."),
    "extend": (".", ".", "=", ".", ".", ".", "."),
    "accept": (".", ".", "answered", ".", ".", ".", "."),
    "send_back": (".", ".", "=", ".", ".", ".", "."),
    "close": (".", "closed", ".", "closed", ".", ".", "."),
    "reopen": (".", ".", ".", "triaged", "triaged", "triaged", "."),
}
STATUS_ORDER = ("received", "triaged", "forwarded", "answered", "closed", "rejected", "merged")

CASES = [
    (status, action, expected)
    for action, row in EXPECTED.items()
    for status, expected in zip(STATUS_ORDER, row, strict=True)
]


def test_the_table_covers_every_status_and_action() -> None:
    assert set(EXPECTED) == set(ACTIONS)
    assert set(STATUS_ORDER) == set(STATUSES)


@pytest.mark.parametrize(("status", "action", "expected"), CASES, ids=[f"{a}-{s}" for s, a, _ in CASES])
def test_transition(status: str, action: str, expected: str) -> None:
    if expected == ".":
        with pytest.raises(InvalidTransition) as caught:
            transition(status, action)
        assert (caught.value.status, caught.value.action) == (status, action)
    else:
        assert transition(status, action) == (status if expected == "=" else expected)


def test_unknown_action_or_status_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        transition("received", "publish")
    with pytest.raises(InvalidTransition):
        transition("lost", "triage")


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("received", ["claim", "release", "assign", "triage", "merge", "reject", "moderate", "review"]),
        ("forwarded", ["claim", "release", "assign", "moderate", "answer", "extend", "accept", "send_back"]),
        ("closed", ["moderate", "reopen"]),
        ("merged", []),
    ],
)
def test_allowed_actions(status: str, actions: list[str]) -> None:
    assert allowed_actions(status) == actions
