"""The one decision type: what an approval records, what a waiting step gets back, and how any resume value (loopdesk's
shape, LangChain's HITL decisions, a bare boolean, garbage) reads as a decision."""

from __future__ import annotations

import pytest

from loopdesk.tools.approvals.schemas import Decision

HITL = {"action_requests": [{"name": "refund", "args": {"amount": 5}}], "review_configs": []}


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (Decision(type="approve"), "approved"),
        (Decision(type="reject", message="too much"), "rejected"),
        (Decision(type="edit", args={"amount": 3}), "edited"),
    ],
)
def test_each_decision_round_trips_through_both_resume_shapes(decision, status):
    assert decision.status == status
    for pending in (None, HITL):
        read = Decision.from_resume(decision.to_resume(pending))
        assert read[0] == status
        assert read[2] == (decision.args if decision.type == "edit" else None)
    if decision.message:
        assert Decision.from_resume(decision.to_resume())[1] == decision.message


def test_a_hitl_interrupt_gets_one_decision_per_action_request():
    pending = {"action_requests": [{"name": "a"}, {"name": "b"}]}
    value = Decision(type="edit", args={"x": 1}).to_resume(pending)
    assert value == {"decisions": [{"type": "edit", "edited_action": {"name": n, "args": {"x": 1}}} for n in "ab"]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, ("approved", None, None)),
        (False, ("rejected", None, None)),
        ({"type": "expired"}, ("expired", None, None)),
        ({"type": "approve", "message": 42, "args": "not a dict"}, ("approved", "42", None)),
        ({"type": "yes please"}, (None, None, None)),
        ("approve", (None, None, None)),
        (None, (None, None, None)),
        ({"decisions": []}, (None, None, None)),
    ],
)
def test_what_is_not_a_decision_reads_as_none_and_odd_values_are_tamed(value, expected):
    assert Decision.from_resume(value) == expected


def test_a_recorded_decision_names_its_approval():
    value = Decision.recorded("edited", approval_id="a-1", message=None, args={"amount": 1})
    assert value == {"type": "edit", "approval_id": "a-1", "args": {"amount": 1}}
    assert Decision.from_resume(value) == ("edited", None, {"amount": 1})
