"""Predicates, status conditions and label selectors (no server needed)."""

from __future__ import annotations

import datetime

import pytest

from k8spb.api.batch.v1 import Job, JobCondition, JobStatus
from k8spb.api.core.v1 import Pod, PodStatus
from k8spb.apiextensions_apiserver.pkg.apis.apiextensions.v1 import (
    CustomResourceDefinition,
    CustomResourceDefinitionCondition,
    CustomResourceDefinitionStatus,
)
from k8spb.apimachinery.pkg.apis.meta.v1 import (
    Condition,
    LabelSelector,
    LabelSelectorRequirement,
    ObjectMeta,
)
from k8spb.runtime import (
    all_of,
    any_of,
    condition_is_true,
    find_condition,
    is_crd_established,
    is_deleted,
    is_job_completed,
    is_pod_running,
    negate,
    remove_condition,
    selector_to_string,
    set_condition,
)

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
T1 = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)


def test_predicates() -> None:
    running = Pod(status=PodStatus(phase="Running"))
    assert is_pod_running()(running) and not is_pod_running()(Pod()) and not is_pod_running()(None)
    done = Job(status=JobStatus(conditions=[JobCondition(type="Complete", status="True")]))
    assert is_job_completed()(done) and not is_job_completed()(Job())
    crd = CustomResourceDefinition(status=CustomResourceDefinitionStatus(conditions=[
        CustomResourceDefinitionCondition(type="Established", status="True"),
        CustomResourceDefinitionCondition(type="NamesAccepted", status="False")]))
    assert is_crd_established()(crd) and not condition_is_true("NamesAccepted")(crd)
    pod = Pod(metadata=ObjectMeta(uid="u1"))
    assert is_deleted("u1")(None) and not is_deleted("u1")(pod)
    assert is_deleted("u1")(Pod(metadata=ObjectMeta(uid="u2")))  # recreated under the same name
    alive = Pod(metadata=ObjectMeta(uid="x"), status=PodStatus(phase="Running"))
    assert all_of(is_pod_running(), negate(is_deleted("x")))(alive)
    assert any_of(is_pod_running(), is_job_completed())(done) and not any_of()(done)


def test_set_condition_follows_set_status_condition() -> None:
    conds: list[Condition] = []
    assert set_condition(conds, Condition(type="Ready", status="False", reason="Init", message="m"), now=T0)
    assert conds[0].last_transition_time == T0
    # same status, other reason: changed, but the transition time stays
    assert set_condition(conds, Condition(type="Ready", status="False", reason="Waiting", message="m"), now=T1)
    assert conds[0].reason == "Waiting" and conds[0].last_transition_time == T0
    # nothing new: unchanged
    assert not set_condition(conds, Condition(type="Ready", status="False", reason="Waiting", message="m"), now=T1)
    # the status flips: the transition time moves
    flipped = Condition(type="Ready", status="True", reason="Done", message="", observed_generation=3)
    assert set_condition(conds, flipped, now=T1)
    assert conds[0].last_transition_time == T1 and conds[0].observed_generation == 3
    assert set_condition(conds, Condition(type="Synced", status="True", last_transition_time=T0), now=T1)
    assert find_condition(conds, "Synced") is conds[1] and conds[1].last_transition_time == T0
    assert remove_condition(conds, "Synced") and not remove_condition(conds, "Synced") and len(conds) == 1
    with pytest.raises(ValueError, match="needs a type"):
        set_condition(conds, Condition(status="True"))


@pytest.mark.parametrize(("selector", "text"), [
    (LabelSelector(), ""),
    ({"app": "web"}, "app=web"),
    (LabelSelector(match_labels={"tier": "db", "app": "web"}), "app=web,tier=db"),
    (LabelSelector(match_expressions=[
        LabelSelectorRequirement(key="env", operator="In", values=["prod", "dev", "prod"]),
        LabelSelectorRequirement(key="zone", operator="NotIn", values=["b", "a"]),
        LabelSelectorRequirement(key="canary", operator="DoesNotExist"),
        LabelSelectorRequirement(key="owner", operator="Exists")],
        match_labels={"app": "web"}),
     "app=web,!canary,env in (dev,prod),owner,zone notin (a,b)"),
    ({"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "c", "operator": "Exists"}]}, "a=b,c"),
])
def test_selector_to_string(selector: object, text: str) -> None:
    assert selector_to_string(selector) == text


@pytest.mark.parametrize(("selector", "message"), [
    (None, "selects nothing"),
    (LabelSelector(match_expressions=[LabelSelectorRequirement(key="a", operator="In")]), "needs values"),
    (LabelSelector(match_expressions=[LabelSelectorRequirement(key="a", operator="Exists", values=["x"])]),
     "takes no values"),
    (LabelSelector(match_expressions=[LabelSelectorRequirement(key="a", operator="Gt", values=["1"])]),
     "unknown operator 'Gt'"),
    (LabelSelector(match_expressions=[LabelSelectorRequirement(operator="Exists")]), "without a key"),
])
def test_selector_errors(selector: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        selector_to_string(selector)
