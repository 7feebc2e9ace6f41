"""The in-memory AWS of the executor tests answers as AWS's documentation says AWS does (so those tests mean
something): https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-quotas.html."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.builders import instance
from tests.unit.fake_port import CREATE, DESCRIBE, DESCRIBE_INSTANCES, FakeAws
from traffic_mirroring.errors import (
    AccountAwsError,
    AwsApiError,
    EniSessionLimit,
    FilterNotFound,
    SessionNotFound,
    SourceNotSupported,
    TargetFull,
    TargetNotFound,
    TokenReused,
    TransientAwsError,
)
from traffic_mirroring.model import MirrorSession
from traffic_mirroring.ports import LifecyclePort


def aws(**switches: object) -> FakeAws:
    fake = FakeAws(**switches)  # type: ignore[arg-type]
    return fake.target("tmt-a").target("tmt-small", limit=1).filter("tmf-1").eni("eni-1", "eni-2")


def make(fake: FakeAws, eni: str = "eni-1", target: str = "tmt-a", number: int = 1, **kw: str) -> MirrorSession:
    request = {"filter_id": "tmf-1", "description": "d", "token": f"{eni}-{target}-{number}", **kw}
    return fake.create_session(
        eni_id=eni,
        target_id=target,
        filter_id=request["filter_id"],
        session_number=number,
        description=request["description"],
        tags={"k": "v"},
        token=request["token"],
    )


def test_it_is_every_port_of_the_use_cases() -> None:
    # (mypy checks the signatures, at the end of fake_port; here, that the reads answer as their port says)
    port: LifecyclePort = aws().instance(instance())
    assert port.verdicts.learned() == {}
    assert port.describe_instances(["i-1", "i-9"])[1] == {"i-9"}


def test_three_sessions_per_eni_counting_hidden_ones() -> None:
    fake = aws()
    fake.existing_session("eni-1", "tmt-a", "tmf-1", 9, hidden=True)
    make(fake, number=1)
    make(fake, number=2)
    with pytest.raises(EniSessionLimit):
        make(fake, number=3)


def test_a_target_limit_counts_source_enis_not_sessions() -> None:
    fake = aws()
    make(fake, "eni-1", "tmt-small", 1)
    make(fake, "eni-1", "tmt-small", 2)  # the same ENI again fits
    with pytest.raises(TargetFull):
        make(fake, "eni-2", "tmt-small", 1)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda f: make(f, target="tmt-x"), TargetNotFound),
        (lambda f: make(f, filter_id="tmf-x"), FilterNotFound),
        (lambda f: make(f, eni="eni-x"), AwsApiError),
        (lambda f: make(f.eni("eni-1", supported=False)), SourceNotSupported),
        (lambda f: make(f, number=0), AwsApiError),
        (lambda f: make(f, number=32767), AwsApiError),
        (lambda f: f.modify_session("tms-x", None, None), SessionNotFound),
    ],
)
def test_what_aws_refuses(change: Callable[[FakeAws], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        change(aws())


def test_a_token_replays_its_first_answer_even_after_a_deletion() -> None:
    fake = aws()
    first = make(fake)
    assert fake.delete_session(first.session_id)
    assert make(fake) == first
    assert fake.sessions == {}
    with pytest.raises(TokenReused):
        make(fake, description="other")


def test_duplicate_numbers_refused_or_accepted() -> None:
    refusing, accepting = aws(), aws(duplicate_numbers_refused=False)
    for fake in (refusing, accepting):
        fake.existing_session("eni-1", "tmt-a", "tmf-1", 1, hidden=True)
    with pytest.raises(AwsApiError) as raised:
        make(refusing)
    assert type(raised.value) is AwsApiError
    assert raised.value.code == "InvalidParameterValue"
    assert make(accepting).session_number == 1


def test_hidden_sessions_are_not_described_nor_deletable() -> None:
    fake = aws()
    hidden = fake.existing_session("eni-1", "tmt-a", "tmf-1", 1, hidden=True)
    assert fake.sessions_on_enis(["eni-1"]) == []
    assert fake.sessions_by_id([hidden.session_id]) == []
    assert fake.delete_session(hidden.session_id) is False


def test_describes_lag_creates_and_deletes_by_n_calls() -> None:
    fake = aws(describe_lag=2)
    made = make(fake)
    assert fake.sessions_by_id([made.session_id]) == []
    assert fake.sessions_by_id([made.session_id]) == []
    assert fake.sessions_by_id([made.session_id]) == [made]
    fake.delete_session(made.session_id)
    assert fake.sessions_on_enis(["eni-1"]) == [made]
    assert fake.sessions_on_enis(["eni-1"]) == [made]
    assert fake.sessions_on_enis(["eni-1"]) == []


def test_injected_errors_are_typed_and_counted() -> None:
    fake = aws().fail(CREATE, "RequestLimitExceeded").fail(DESCRIBE, "AccessDenied", times=2)
    with pytest.raises(TransientAwsError):
        make(fake)
    assert make(fake).eni_id == "eni-1"
    for _ in range(2):
        with pytest.raises(AccountAwsError):
            fake.sessions_on_enis(["eni-1"])
    assert len(fake.sessions_on_enis(["eni-1"])) == 1
    assert fake.operations() == [CREATE, CREATE, DESCRIBE, DESCRIBE, DESCRIBE]


def test_modify_moves_within_target_limits() -> None:
    fake = aws()
    make(fake, "eni-2", "tmt-small")
    session = make(fake)
    with pytest.raises(TargetFull):
        fake.modify_session(session.session_id, "tmt-small", None)
    fake.modify_session(session.session_id, "tmt-a", None)
    assert fake.sessions[session.session_id].target_id == "tmt-a"


def test_instance_tags_are_set_and_deleted() -> None:
    fake = aws()
    fake.set_instance_tags(["i-1", "i-2"], {"a": "1", "b": "2"})
    fake.delete_instance_tags(["i-1"], ["a"])
    assert fake.instance_tags == {"i-1": {"b": "2"}, "i-2": {"a": "1", "b": "2"}}


def test_instances_are_described_with_the_tags_create_tags_and_delete_tags_left() -> None:
    fake = aws().instance(instance(tags={"mirror": "true", "team": "web"}))
    fake.set_instance_tags(["i-1"], {"mirror-status": "mirrored"})
    fake.delete_instance_tags(["i-1"], ["team"])
    found, missing = fake.describe_instances(["i-1", "i-gone"])  # an unknown ID is no error: DescribeInstances' filter
    assert found["i-1"].tags == {"mirror": "true", "mirror-status": "mirrored"} and missing == {"i-gone"}
    assert set(fake.describe_instances_with_tag_key("mirror-status", "other")) == {"i-1"}
    assert fake.describe_instances_with_tag_key("team") == {}


def test_instances_are_found_by_vpc_or_subnet_and_any_other_filter_is_refused() -> None:
    fake = aws().instance(instance(vpc="vpc-1", subnet="subnet-1"), instance("i-2", enis=("eni-9",), vpc="vpc-2"))
    assert set(fake.describe_instances_where("vpc-id", ["vpc-1", "vpc-3"])) == {"i-1"}
    assert set(fake.describe_instances_where("subnet-id", ["subnet-1"])) == {"i-1"}
    with pytest.raises(AwsApiError):
        fake.describe_instances_where("instance-type", ["m5.large"])
    assert fake.count(DESCRIBE_INSTANCES) == 3


def test_an_eni_is_attached_to_its_instance_detached_or_gone() -> None:
    fake = aws().instance(instance())  # eni-1 attached to i-1; eni-2 exists, attached to nothing
    assert fake.describe_eni_attachments(["eni-1", "eni-2", "eni-gone"]) == {"eni-1": "i-1", "eni-2": None}


def test_sessions_are_described_by_eni_target_description_or_all_and_never_hidden_ones() -> None:
    fake = aws()
    mine = fake.existing_session("eni-1", "tmt-a", "tmf-1", 1, description="stack: i-1")
    other = fake.existing_session("eni-2", "tmt-small", "tmf-1", 1)
    fake.existing_session("eni-2", "tmt-a", "tmf-1", 2, hidden=True)
    assert fake.describe_sessions() == [mine, other]
    assert fake.sessions_on_targets(["tmt-a"]) == [mine]
    assert fake.sessions_described(["stack: i-1"]) == [mine]
    assert fake.target_sources(["tmt-a", "tmt-small"]) == {
        "tmt-a": frozenset({"eni-1"}),
        "tmt-small": frozenset({"eni-2"}),
    }


def test_targets_and_filters_are_read_as_built() -> None:
    fake = aws().target("tmt-c", 5, zones=("zone-c",), vpc_id="vpc-1").filter("tmf-2")
    targets = fake.targets(fresh=True)
    assert set(targets) == {"tmt-a", "tmt-small", "tmt-c"}
    assert (targets["tmt-c"].kind, targets["tmt-c"].capacity, targets["tmt-c"].vpc_id) == (
        "network-interface",
        5,
        "vpc-1",
    )
    assert (targets["tmt-a"].kind, targets["tmt-a"].capacity) == ("network-load-balancer", None)
    assert set(fake.describe_filters()) == {"tmf-1", "tmf-2"}
    assert set(fake.describe_filters(["tmf-2", "tmf-gone"])) == {"tmf-2"}


def test_a_lifecycle_action_is_completed_once_with_its_result() -> None:
    fake = aws()
    fake.complete_lifecycle_action(group_name="g", hook_name="h", token="t", instance_id="i-1", result="ABANDON")
    assert fake.lifecycle_results == {"i-1": "ABANDON"}


def test_sessions_are_tagged_in_place() -> None:
    fake = aws()
    session = make(fake)
    fake.tag_sessions([session.session_id], {"mirror-managed-by": "new-marker"})
    assert fake.sessions[session.session_id].tags == {"k": "v", "mirror-managed-by": "new-marker"}
    assert fake.sessions[session.session_id].session_number == session.session_number
