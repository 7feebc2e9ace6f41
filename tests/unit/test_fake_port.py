"""The in-memory AWS of the executor tests answers as AWS's documentation says AWS does (so those tests mean
something): https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-quotas.html."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.fake_port import CREATE, DESCRIBE, FakeAws
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
from traffic_mirroring.ports import MirroringPort


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


def test_it_is_a_mirroring_port() -> None:
    port: MirroringPort = aws()
    assert port.verdicts.learned() == {}


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
