"""The strict layer answers Traffic Mirroring calls the way AWS documents (the Traffic Mirroring guide,
https://docs.aws.amazon.com/vpc/latest/mirroring/, and the EC2 API reference), with AWS's codes.

Every test talks to moto through a plain boto3 client (``account.ec2``), as the product does.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from simulation.account import SimulatedAccount
from simulation.strict_aws import OTHER_ACCOUNT_ID, StrictAws, aws_supports_source

UNKNOWN_ENI = "eni-0123456789abcdef0"
UNKNOWN_TARGET = "tmt-0123456789abcdef0"
UNKNOWN_FILTER = "tmf-0123456789abcdef0"
UNKNOWN_SESSION = "tms-0123456789abcdef0"


# -- helpers -------------------------------------------------------------------------------------------------------
def error_code(call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    code: str = caught.value.response["Error"]["Code"]
    return code


def create_session(ec2: Any, eni: str, target: str, mirror_filter: str, number: int = 1, **extra: Any) -> str:
    session_id: str = ec2.create_traffic_mirror_session(
        NetworkInterfaceId=eni,
        TrafficMirrorTargetId=target,
        TrafficMirrorFilterId=mirror_filter,
        SessionNumber=number,
        **extra,
    )["TrafficMirrorSession"]["TrafficMirrorSessionId"]
    return session_id


def session_args(eni: str, target: str, mirror_filter: str, number: int = 1) -> dict[str, Any]:
    return {
        "NetworkInterfaceId": eni,
        "TrafficMirrorTargetId": target,
        "TrafficMirrorFilterId": mirror_filter,
        "SessionNumber": number,
    }


def source_enis(
    account: SimulatedAccount, count: int, instance_type: str = "m5.large", per_host: int = 10
) -> list[str]:
    """``count`` supported source ENIs, ``per_host`` of them on each instance (moto has no ENI-per-instance limit)."""
    enis: list[str] = []
    while len(enis) < count:
        extra = min(per_host, count - len(enis)) - 1
        enis.extend(account.enis_of(account.launch(instance_type, extra_enis=extra)))
    return enis


def all_session_ids(account: SimulatedAccount) -> set[str]:
    return {s["TrafficMirrorSessionId"] for s in account.sessions()}


@pytest.fixture
def target(account: SimulatedAccount) -> str:
    """An ENI target on a c5.large host: 10 sources at most."""
    return account.eni_target()


@pytest.fixture
def mirror_filter(account: SimulatedAccount) -> str:
    return account.mirror_filter()


@pytest.fixture
def eni(account: SimulatedAccount) -> str:
    """The primary ENI of a supported (m5.large) instance."""
    return account.enis_of(account.launch("m5.large"))[0]


# -- 1. sessions per source ENI --------------------------------------------------------------------------------------
def test_an_eni_takes_three_sessions_of_anyone_and_refuses_a_fourth(account, eni, target, mirror_filter):
    # Given an ENI with two sessions created by someone else and one of ours
    other_target = account.nlb_target()
    account.foreign_session(eni, other_target, mirror_filter, 1)
    account.foreign_session(eni, other_target, mirror_filter, 2)
    create_session(account.ec2, eni, target, mirror_filter, 3)

    # When a fourth session is created on it
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 4))

    # Then AWS refuses it, and the ENI still has three sessions
    assert code == "TrafficMirrorSessionsPerInterfaceLimitExceeded"
    assert len(account.sessions_on(eni)) == 3


# -- 2. session numbers ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("number", [0, 32767, -1])
def test_a_session_number_outside_1_to_32766_is_rejected(account, eni, target, mirror_filter, number):
    # Given a supported ENI, a target and a filter
    # When a session is created with a number outside AWS's range
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, number))

    # Then AWS rejects the parameter and creates nothing
    assert code == "InvalidParameterValue"
    assert account.sessions() == []


@pytest.mark.parametrize("number", [1, 32766])
def test_the_bounds_of_the_session_number_range_are_accepted(account, eni, target, mirror_filter, number):
    # Given a supported ENI, a target and a filter
    # When a session is created with a number at a bound of the range
    create_session(account.ec2, eni, target, mirror_filter, number)

    # Then it exists with that number
    assert [s["SessionNumber"] for s in account.sessions_on(eni)] == [number]


def test_a_session_number_is_unique_per_eni_not_per_account(account, eni, target, mirror_filter):
    # Given an ENI with session number 7, and another ENI
    create_session(account.ec2, eni, target, mirror_filter, 7)
    other_eni = account.enis_of(account.launch("m5.large"))[0]

    # When number 7 is used again on the same ENI
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 7))

    # Then it is rejected; on the other ENI the same number is fine
    assert code == "InvalidParameterValue"
    create_session(account.ec2, other_eni, target, mirror_filter, 7)
    assert len(account.sessions(session_number="7")) == 2


# -- 3. sources per target ---------------------------------------------------------------------------------------------
def test_an_eni_target_takes_ten_source_enis(account, target, mirror_filter):
    # Given an ENI target (c5.large host) that already mirrors 10 distinct source ENIs
    enis = source_enis(account, 11)
    for source in enis[:10]:
        create_session(account.ec2, source, target, mirror_filter, 1)

    # When an 11th distinct ENI is mirrored to it
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(enis[10], target, mirror_filter, 1))

    # Then AWS refuses it
    assert code == "TrafficMirrorSourcesPerTargetLimitExceeded"
    assert len(account.sessions(traffic_mirror_target_id=target)) == 10


def test_a_second_session_from_an_existing_source_does_not_count_twice(account, target, mirror_filter):
    # Given an ENI target that is full with 10 source ENIs
    enis = source_enis(account, 10)
    for source in enis:
        create_session(account.ec2, source, target, mirror_filter, 1)

    # When one of those sources gets a second session to the same target
    create_session(account.ec2, enis[0], target, mirror_filter, 2)

    # Then it is accepted: the target still has 10 sources
    assert len(account.sessions(traffic_mirror_target_id=target)) == 11


def test_an_eni_target_on_a_listed_type_takes_a_hundred_sources(account, mirror_filter):
    # Given an ENI target on an m5.24xlarge (on AWS's list of 100-source targets) with 100 source ENIs
    target = account.eni_target(instance_type="m5.24xlarge")
    enis = source_enis(account, 101)
    for source in enis[:100]:
        create_session(account.ec2, source, target, mirror_filter, 1)

    # When a 101st ENI is mirrored to it
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(enis[100], target, mirror_filter, 1))

    # Then AWS refuses it
    assert code == "TrafficMirrorSourcesPerTargetLimitExceeded"
    assert len(account.sessions(traffic_mirror_target_id=target)) == 100


def fill(account: SimulatedAccount, target: str, mirror_filter: str, count: int) -> list[str]:
    """``count`` source ENIs mirrored to ``target`` (one session each); returns them."""
    enis = source_enis(account, count)
    for source in enis:
        create_session(account.ec2, source, target, mirror_filter, 1)
    return enis


@pytest.mark.parametrize("appliance_type", ["c5.18xlarge", "p5.4xlarge", "u7in-16tb.224xlarge", "c7gn.16xlarge"])
def test_an_eni_target_on_a_type_of_the_explicit_list_takes_an_eleventh_source(account, mirror_filter, appliance_type):
    # Given an ENI target on an appliance type AWS lists for 100 sources, with 10 sources
    target = account.eni_target(instance_type=appliance_type)
    fill(account, target, mirror_filter, 10)

    # When an 11th source ENI is mirrored to it
    create_session(account.ec2, source_enis(account, 1)[0], target, mirror_filter)

    # Then AWS accepts it
    assert len(account.sessions(traffic_mirror_target_id=target)) == 11


@pytest.mark.parametrize(
    "appliance_type",
    ["t3.2xlarge", "m7g.16xlarge", "x1.32xlarge", "c4.8xlarge", "p3.16xlarge", "m5.metal"],
)
def test_an_eni_target_on_a_type_not_on_the_list_refuses_an_eleventh_source(account, mirror_filter, appliance_type):
    # Given an ENI target on an appliance type AWS does not list (even the largest size of its family), 10 sources
    target = account.eni_target(instance_type=appliance_type)
    fill(account, target, mirror_filter, 10)

    # When an 11th source ENI is mirrored to it
    code = error_code(
        account.ec2.create_traffic_mirror_session,
        **session_args(source_enis(account, 1)[0], target, mirror_filter),
    )

    # Then AWS refuses it
    assert code == "TrafficMirrorSourcesPerTargetLimitExceeded"


def test_an_nlb_target_takes_more_than_a_hundred_sources(account, mirror_filter):
    # Given an NLB target
    target = account.nlb_target()

    # When 150 distinct ENIs are mirrored to it
    for source in source_enis(account, 150):
        create_session(account.ec2, source, target, mirror_filter, 1)

    # Then all sessions exist
    assert len(account.sessions(traffic_mirror_target_id=target)) == 150


# -- 4. ENI, target and filter must exist ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("eni", "InvalidNetworkInterfaceID.NotFound"),
        ("target", "InvalidTrafficMirrorTargetId.NotFound"),
        ("filter", "InvalidTrafficMirrorFilterId.NotFound"),
    ],
)
def test_a_session_needs_an_existing_eni_target_and_filter(account, eni, target, mirror_filter, missing, expected):
    # Given one of the three references unknown to the account
    args = session_args(
        UNKNOWN_ENI if missing == "eni" else eni,
        UNKNOWN_TARGET if missing == "target" else target,
        UNKNOWN_FILTER if missing == "filter" else mirror_filter,
    )

    # When a session is created with it
    code = error_code(account.ec2.create_traffic_mirror_session, **args)

    # Then AWS answers with that resource's NotFound code and creates nothing
    assert code == expected
    assert account.sessions() == []


# -- 5. supported source instance types ------------------------------------------------------------------------------
UNSUPPORTED_SOURCES = [
    "t2.micro",  # Xen, not listed
    "r3.large",  # previous generation
    "g3s.xlarge",  # left the list
    "c6i.metal",  # bare metal of a Nitro version other than v2
    "c7i.metal-24xl",  # bare metal, ``metal-*`` size
    "m8g.large",  # 8th generation: newer than the list
    "c7gn.large",
    "p5en.48xlarge",
    "mac-m4.metal",
]
SUPPORTED_SOURCES = [
    "m5.large",
    "c4.large",
    "t3.micro",
    "m6i.large",  # was refused by the former exclusion list
    "m7i.large",
    "m7i-flex.large",
    "c7g.large",
    "u7in-16tb.224xlarge",
    "m5.metal",  # bare metal of the bare-metal list
    "mac2.metal",
    "mac2-m1ultra.metal",
]


@pytest.mark.parametrize("instance_type", UNSUPPORTED_SOURCES)
def test_an_eni_on_an_unsupported_instance_type_cannot_be_a_source(account, target, mirror_filter, instance_type):
    # Given an ENI of an instance type whose family AWS does not list (for its kind: virtualized or bare metal)
    eni = account.enis_of(account.launch(instance_type))[0]

    # When it is made a mirror source
    with pytest.raises(ClientError) as caught:
        account.ec2.create_traffic_mirror_session(**session_args(eni, target, mirror_filter))

    # Then AWS refuses it, naming the ENI
    assert caught.value.response["Error"]["Code"] == "NetworkInterfaceNotSupported"
    assert caught.value.response["Error"]["Message"] == f"{eni} must be attached to a supported instance."
    assert account.sessions() == []


@pytest.mark.parametrize("instance_type", SUPPORTED_SOURCES)
def test_an_eni_on_a_supported_instance_type_can_be_a_source(account, target, mirror_filter, instance_type):
    # Given an ENI of an instance type of a listed family
    eni = account.enis_of(account.launch(instance_type))[0]

    # When it is made a mirror source
    create_session(account.ec2, eni, target, mirror_filter)

    # Then the session exists
    assert len(account.sessions_on(eni)) == 1


def test_an_unlisted_family_is_accepted_once_aws_is_told_to(account, strict, target, mirror_filter):
    # Given two ENIs of an unlisted family (m8g), refused as sources
    first, second = account.enis_of(account.launch("m8g.large", extra_enis=1))
    refused = error_code(account.ec2.create_traffic_mirror_session, **session_args(first, target, mirror_filter))

    # When AWS accepts the family (as it may for a family newer than its list)
    strict.accept_family("M8G")

    # Then its ENIs can be sources, and the set shows the family
    create_session(account.ec2, second, target, mirror_filter)
    assert refused == "NetworkInterfaceNotSupported"
    assert strict.accept_families == {"m8g"}
    assert len(account.sessions_on(second)) == 1


def test_the_module_rule_reads_aws_lists_and_ignores_the_former_hypervisor_arguments():
    # Given AWS's inclusion lists
    # When the rule is asked about types, with and without the former (hypervisor, bare metal) arguments
    # Then it follows the lists only
    assert aws_supports_source("m6i.large", "nitro", False)
    assert aws_supports_source("c4.large")
    assert not aws_supports_source("t2.micro", "xen", False)
    assert not aws_supports_source("c6i.metal")
    assert aws_supports_source("c6i.metal", accept_families={"c6i"})
    assert aws_supports_source("U7in-16tb.224xlarge")


def test_a_requester_managed_eni_is_a_source_only_when_rds_or_elasticache_created_it(account, mirror_filter):
    # Given requester-managed ENIs created by Amazon RDS, Amazon ElastiCache and Elastic Load Balancing
    target = account.nlb_target()
    rds, cache, elb = (account.requester_managed_eni(r) for r in ("amazon-rds", "amazon-elasticache", "amazon-elb"))

    # When each is made a mirror source
    create_session(account.ec2, rds, target, mirror_filter)
    create_session(account.ec2, cache, target, mirror_filter)
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(elb, target, mirror_filter))

    # Then AWS accepts RDS's and ElastiCache's and refuses the other
    assert code == "NetworkInterfaceNotSupported"
    assert {s["NetworkInterfaceId"] for s in account.sessions()} == {rds, cache}


def test_an_eni_of_another_type_than_interface_cannot_be_a_source(account, mirror_filter):
    # Given the ENI of a Gateway Load Balancer endpoint (type gateway_load_balancer_endpoint)
    account.gwlb_endpoint_target()
    endpoint_eni = account.ec2.describe_vpc_endpoints()["VpcEndpoints"][0]["NetworkInterfaceIds"][0]

    # When it is made a mirror source
    code = error_code(
        account.ec2.create_traffic_mirror_session, **session_args(endpoint_eni, account.nlb_target(), mirror_filter)
    )

    # Then AWS refuses it
    assert code == "NetworkInterfaceNotSupported"


def test_an_unattached_eni_cannot_be_a_source(account, target, mirror_filter):
    # Given an ENI attached to no instance
    eni = account.ec2.create_network_interface(SubnetId=account.subnets[account.zones[0]])["NetworkInterface"][
        "NetworkInterfaceId"
    ]

    # When it is made a mirror source
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter))

    # Then AWS refuses it: it "must be attached to a supported instance"
    assert code == "NetworkInterfaceNotSupported"


def test_an_eni_that_is_a_target_cannot_be_a_source(account, mirror_filter):
    # Given an ENI target on a supported host, and another target
    host = account.launch("m5.large")
    host_eni = account.enis_of(host)[0]
    account.ec2.create_traffic_mirror_target(NetworkInterfaceId=host_eni)
    other_target = account.nlb_target()

    # When the target's ENI is made a mirror source
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(host_eni, other_target, mirror_filter))

    # Then it is rejected
    assert code == "InvalidParameterValue"
    assert account.sessions() == []


def test_an_eni_target_needs_an_existing_eni_that_is_no_source(account, eni, target, mirror_filter):
    # Given a source ENI with a session
    create_session(account.ec2, eni, target, mirror_filter)

    # When a target is created on an unknown ENI, or on the source ENI
    unknown = error_code(account.ec2.create_traffic_mirror_target, NetworkInterfaceId=UNKNOWN_ENI)
    source = error_code(account.ec2.create_traffic_mirror_target, NetworkInterfaceId=eni)

    # Then AWS refuses both, and only the original target exists
    assert unknown == "InvalidNetworkInterfaceID.NotFound"
    assert source == "InvalidParameterValue"
    assert len(account.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]) == 1


# -- 6. ClientToken idempotency ----------------------------------------------------------------------------------------
def test_the_same_client_token_and_parameters_return_the_same_session(account, eni, target, mirror_filter):
    # Given a session created with a client token
    args = {**session_args(eni, target, mirror_filter), "ClientToken": "token-1"}
    first = account.ec2.create_traffic_mirror_session(**args)["TrafficMirrorSession"]["TrafficMirrorSessionId"]

    # When the same call is repeated (a retry or a re-delivered event)
    again = account.ec2.create_traffic_mirror_session(**args)["TrafficMirrorSession"]["TrafficMirrorSessionId"]

    # Then AWS answers with the same session and creates no other
    assert again == first
    assert all_session_ids(account) == {first}


def test_the_same_client_token_with_other_parameters_is_a_mismatch(account, eni, target, mirror_filter):
    # Given a session created with a client token
    create_session(account.ec2, eni, target, mirror_filter, 1, ClientToken="token-1")

    # When the token is reused with another session number
    code = error_code(
        account.ec2.create_traffic_mirror_session,
        **session_args(eni, target, mirror_filter, 2),
        ClientToken="token-1",
    )

    # Then AWS answers IdempotentParameterMismatch and creates nothing
    assert code == "IdempotentParameterMismatch"
    assert len(account.sessions()) == 1


def test_the_same_client_token_after_deletion_answers_the_original_and_creates_nothing(
    account, eni, target, mirror_filter
):
    # Given a session created with a client token, then deleted
    first = create_session(account.ec2, eni, target, mirror_filter, 1, ClientToken="token-1")
    account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=first)

    # When the same call is repeated
    again = create_session(account.ec2, eni, target, mirror_filter, 1, ClientToken="token-1")

    # Then AWS answers with the original (deleted) session and creates nothing
    assert again == first
    assert account.sessions() == []


def test_a_client_token_longer_than_64_characters_is_rejected(account, eni, target, mirror_filter):
    # Given a client token of 65 characters
    # When a session is created with it
    code = error_code(
        account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter), ClientToken="t" * 65
    )

    # Then AWS rejects the parameter
    assert code == "InvalidParameterValue"


# -- 7. unknown IDs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "kwargs", "expected"),
    [
        ("delete_traffic_mirror_session", {"TrafficMirrorSessionId": UNKNOWN_SESSION}, "InvalidTrafficMirrorSessionId"),
        (
            "modify_traffic_mirror_session",
            {"TrafficMirrorSessionId": UNKNOWN_SESSION, "Description": "x"},
            "InvalidTrafficMirrorSessionId",
        ),
        (
            "describe_traffic_mirror_sessions",
            {"TrafficMirrorSessionIds": [UNKNOWN_SESSION]},
            "InvalidTrafficMirrorSessionId",
        ),
        (
            "describe_traffic_mirror_targets",
            {"TrafficMirrorTargetIds": [UNKNOWN_TARGET]},
            "InvalidTrafficMirrorTargetId",
        ),
        (
            "describe_traffic_mirror_filters",
            {"TrafficMirrorFilterIds": [UNKNOWN_FILTER]},
            "InvalidTrafficMirrorFilterId",
        ),
    ],
)
def test_unknown_ids_are_not_found(account, eni, target, mirror_filter, operation, kwargs, expected):
    # Given an account with one session, one target and one filter
    create_session(account.ec2, eni, target, mirror_filter)

    # When an operation names an ID that does not exist
    code = error_code(getattr(account.ec2, operation), **kwargs)

    # Then AWS answers with the resource's NotFound code
    assert code == f"{expected}.NotFound"


def test_describing_known_and_unknown_ids_together_is_not_found(account, eni, target, mirror_filter):
    # Given one session
    session = create_session(account.ec2, eni, target, mirror_filter)

    # When it is described together with an unknown ID
    code = error_code(account.ec2.describe_traffic_mirror_sessions, TrafficMirrorSessionIds=[session, UNKNOWN_SESSION])

    # Then the whole call fails, as AWS does
    assert code == "InvalidTrafficMirrorSessionId.NotFound"


# -- 8. pagination ----------------------------------------------------------------------------------------------------
DESCRIBES = [
    ("describe_traffic_mirror_sessions", "TrafficMirrorSessions"),
    ("describe_traffic_mirror_targets", "TrafficMirrorTargets"),
    ("describe_traffic_mirror_filters", "TrafficMirrorFilters"),
]


@pytest.mark.parametrize(("operation", "key"), DESCRIBES)
def test_max_results_outside_5_to_1000_is_rejected(account, operation, key):
    # Given a client that sends what it is given (botocore itself refuses MaxResults < 5 before sending)
    unchecked = account.session.client("ec2", config=Config(parameter_validation=False))

    # When a Describe call asks for a page size outside AWS's range
    too_small = error_code(getattr(unchecked, operation), MaxResults=4)
    too_large = error_code(getattr(account.ec2, operation), MaxResults=1001)

    # Then AWS rejects the parameter
    assert (too_small, too_large) == ("InvalidParameterValue", "InvalidParameterValue")


def test_a_next_token_that_was_never_handed_out_is_rejected(account):
    # Given an account
    # When sessions are listed from a made-up NextToken
    code = error_code(account.ec2.describe_traffic_mirror_sessions, MaxResults=5, NextToken="not-a-token")

    # Then AWS rejects the parameter
    assert code == "InvalidParameterValue"


def make_sessions(account: SimulatedAccount, count: int) -> set[str]:
    target, mirror_filter = account.nlb_target(), account.mirror_filter()
    return {create_session(account.ec2, source, target, mirror_filter) for source in source_enis(account, count)}


def test_max_results_pages_sessions_with_next_token(account):
    # Given 12 sessions
    created = make_sessions(account, 12)

    # When they are listed five at a time, following NextToken
    pages: list[list[str]] = []
    kwargs: dict[str, Any] = {"MaxResults": 5}
    while True:
        answer = account.ec2.describe_traffic_mirror_sessions(**kwargs)
        pages.append([s["TrafficMirrorSessionId"] for s in answer["TrafficMirrorSessions"]])
        if "NextToken" not in answer:
            break
        kwargs["NextToken"] = answer["NextToken"]

    # Then the pages hold 5, 5 and 2 sessions, all of them once
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [s for p in pages for s in p] == list(dict.fromkeys(s for p in pages for s in p))
    assert {s for p in pages for s in p} == created


def test_max_results_pages_filters_and_targets(account):
    # Given 12 filters and 12 targets
    for _ in range(12):
        account.mirror_filter()
    hosts = source_enis(account, 12)
    for host_eni in hosts:
        account.ec2.create_traffic_mirror_target(NetworkInterfaceId=host_eni)

    for operation, key in DESCRIBES[1:]:
        # When the first page of 5 is asked, then the rest
        first = getattr(account.ec2, operation)(MaxResults=5)
        second = getattr(account.ec2, operation)(MaxResults=5, NextToken=first["NextToken"])
        third = getattr(account.ec2, operation)(MaxResults=5, NextToken=second["NextToken"])

        # Then the pages hold 5, 5 and 2 items and the last has no NextToken
        assert [len(first[key]), len(second[key]), len(third[key])] == [5, 5, 2]
        assert "NextToken" not in third


@pytest.mark.parametrize(("operation", "key"), DESCRIBES)
def test_a_page_cap_shortens_pages_and_the_paginator_still_gets_everything(account, strict, operation, key):
    # Given 12 sessions (hence 12 ENI sources on hosts, one NLB target, one filter) and 11 more filters and targets
    make_sessions(account, 12)
    for _ in range(11):
        account.mirror_filter()
    for host_eni in source_enis(account, 11):
        account.ec2.create_traffic_mirror_target(NetworkInterfaceId=host_eni)

    # When AWS caps its pages at 5 and a caller asks for 1000
    strict.page_cap = 5
    first = getattr(account.ec2, operation)(MaxResults=1000)
    pages = list(account.ec2.get_paginator(operation).paginate(PaginationConfig={"PageSize": 1000}))

    # Then every page holds at most 5 items, and the paginator still gets all 12
    assert len(first[key]) == 5
    assert "NextToken" in first
    assert all(len(page[key]) <= 5 for page in pages)
    assert len(pages) == 3
    assert len({item[f"{key[:-1]}Id"] for page in pages for item in page[key]}) == 12


# -- 9. describe filters ----------------------------------------------------------------------------------------------
# The names each call's API reference lists (API_DescribeTrafficMirrorSessions.html, ...Targets.html, ...Filters.html
# under https://docs.aws.amazon.com/AWSEC2/latest/APIReference/): no tag filter among them.
DOCUMENTED_FILTERS = {
    "describe_traffic_mirror_sessions": [
        "description",
        "network-interface-id",
        "owner-id",
        "packet-length",
        "session-number",
        "traffic-mirror-filter-id",
        "traffic-mirror-session-id",
        "traffic-mirror-target-id",
        "virtual-network-id",
    ],
    "describe_traffic_mirror_targets": [
        "description",
        "network-interface-id",
        "network-load-balancer-arn",
        "owner-id",
        "traffic-mirror-target-id",
    ],
    "describe_traffic_mirror_filters": ["description", "traffic-mirror-filter-id"],
}


@pytest.mark.parametrize(
    ("operation", "name"), [(operation, name) for operation, names in DOCUMENTED_FILTERS.items() for name in names]
)
def test_every_documented_filter_name_is_accepted(account, operation, name):
    # Given an account
    # When a Describe call uses a filter name its API reference lists
    answer = getattr(account.ec2, operation)(Filters=[{"Name": name, "Values": ["x"]}])

    # Then AWS answers (nothing matches "x")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("operation", sorted(DOCUMENTED_FILTERS))
@pytest.mark.parametrize("name", ["tag:team", "tag-key"])
def test_tag_filters_are_refused_because_these_calls_document_none(account, target, mirror_filter, operation, name):
    # Given a session, its target and its filter, each tagged team=net
    tags = [{"Key": "team", "Value": "net"}]
    session = create_session(account.ec2, source_enis(account, 1)[0], target, mirror_filter)
    account.ec2.create_tags(Resources=[session, target, mirror_filter], Tags=tags)

    # When a Describe call filters on a tag (a name many other EC2 describes accept)
    code = error_code(getattr(account.ec2, operation), Filters=[{"Name": name, "Values": ["team", "net"]}])

    # Then AWS refuses the name, as it refuses any name the call does not document
    assert code == "InvalidParameterValue"


def test_tags_added_after_creation_are_seen_by_describe(account, eni, target, mirror_filter):
    # Given a session without tags, tagged afterwards with CreateTags
    session = create_session(account.ec2, eni, target, mirror_filter)
    account.ec2.create_tags(Resources=[session], Tags=[{"Key": "owner", "Value": "us"}])

    # When sessions are described
    found = account.ec2.describe_traffic_mirror_sessions(TrafficMirrorSessionIds=[session])

    # Then the session shows its tag
    assert found["TrafficMirrorSessions"][0]["Tags"] == [{"Key": "owner", "Value": "us"}]


def test_the_description_filter_matches_the_whole_description(account, target, mirror_filter):
    # Given sessions described "stack: i-1", "stack: i-12" and one without a description
    enis = source_enis(account, 3)
    one = create_session(account.ec2, enis[0], target, mirror_filter, Description="stack: i-1")
    create_session(account.ec2, enis[1], target, mirror_filter, Description="stack: i-12")
    create_session(account.ec2, enis[2], target, mirror_filter)

    # When sessions are described by description "stack: i-1"
    found = account.ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "description", "Values": ["stack: i-1"]}])

    # Then only the session with exactly that description is returned
    assert [s["TrafficMirrorSessionId"] for s in found["TrafficMirrorSessions"]] == [one]


def test_the_owner_id_filter_leaves_out_other_accounts_sessions_on_a_shared_target(
    account, strict, target, mirror_filter
):
    # Given a session of ours and one of another account on our (shared) target
    ours = create_session(account.ec2, source_enis(account, 1)[0], target, mirror_filter)
    theirs = strict.add_foreign_account_session(target, mirror_filter)

    # When sessions are described by owner-id, ours and theirs
    mine = account.ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "owner-id", "Values": ["123456789012"]}])
    other = account.ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "owner-id", "Values": [OTHER_ACCOUNT_ID]}])

    # Then each holds only that account's session
    assert [s["TrafficMirrorSessionId"] for s in mine["TrafficMirrorSessions"]] == [ours]
    assert [s["TrafficMirrorSessionId"] for s in other["TrafficMirrorSessions"]] == [theirs]


def test_the_session_number_filter_matches(account, eni, target, mirror_filter):
    # Given sessions numbered 1 and 2 on an ENI
    first = create_session(account.ec2, eni, target, mirror_filter, 1)
    create_session(account.ec2, eni, target, mirror_filter, 2)

    # When sessions are described by session-number 1
    found = account.ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "session-number", "Values": ["1"]}])

    # Then only session 1 is returned
    assert [s["TrafficMirrorSessionId"] for s in found["TrafficMirrorSessions"]] == [first]


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        ("describe_traffic_mirror_sessions", "no-such-filter"),
        ("describe_traffic_mirror_targets", "no-such-filter"),
        ("describe_traffic_mirror_filters", "no-such-filter"),
        ("describe_traffic_mirror_targets", "session-number"),  # a session filter, not a target filter
        ("describe_traffic_mirror_filters", "network-interface-id"),
    ],
)
def test_an_unknown_filter_name_is_rejected(account, operation, name):
    # Given an account
    # When a Describe call uses a filter name AWS does not know for that resource
    code = error_code(getattr(account.ec2, operation), Filters=[{"Name": name, "Values": ["x"]}])

    # Then AWS rejects the parameter
    assert code == "InvalidParameterValue"


# -- 10. ENI and instance lifecycle -----------------------------------------------------------------------------------
def test_deleting_an_eni_deletes_its_sessions(account, target, mirror_filter):
    # Given a detached ENI with a session (created while it was attached) and another ENI with a session
    instance = account.launch("m5.large", extra_enis=1)
    primary, secondary = account.enis_of(instance)
    doomed = create_session(account.ec2, secondary, target, mirror_filter)
    kept = create_session(account.ec2, primary, target, mirror_filter)
    attachment = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[secondary])["NetworkInterfaces"][0][
        "Attachment"
    ]["AttachmentId"]
    account.ec2.detach_network_interface(AttachmentId=attachment)

    # When the ENI is deleted
    account.ec2.delete_network_interface(NetworkInterfaceId=secondary)

    # Then its session is gone, the other stays
    assert all_session_ids(account) == {kept}
    assert doomed not in all_session_ids(account)


def test_terminating_an_instance_deletes_its_launch_enis_and_keeps_a_later_secondary_eni(
    account, target, mirror_filter
):
    # Given an instance whose launch ENI and a later-attached secondary ENI (DeleteOnTermination false) are mirrored
    instance = account.launch("m5.large", extra_enis=1)
    primary, secondary = account.enis_of(instance)
    create_session(account.ec2, primary, target, mirror_filter)
    survivor_session = create_session(account.ec2, secondary, target, mirror_filter)

    # When the instance is terminated
    account.terminate(instance)

    # Then the launch ENI and its session are gone
    code = error_code(account.ec2.describe_network_interfaces, NetworkInterfaceIds=[primary])
    assert code == "InvalidNetworkInterfaceID.NotFound"
    # and the secondary ENI survives detached, keeping its session (and its bill)
    survivor = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[secondary])["NetworkInterfaces"][0]
    assert survivor["Status"] == "available"
    assert "InstanceId" not in survivor.get("Attachment", {})
    assert all_session_ids(account) == {survivor_session}
    # and the terminated instance lists no network interfaces
    assert account.instance(instance).get("NetworkInterfaces", []) == []
    assert account.instance(instance)["State"]["Name"] == "terminated"


def test_a_secondary_eni_set_to_delete_on_termination_goes_with_the_instance(account, target, mirror_filter):
    # Given a later-attached secondary ENI whose DeleteOnTermination was set to true, with a session
    instance = account.launch("m5.large", extra_enis=1, extra_enis_delete_on_termination=True)
    secondary = account.enis_of(instance)[1]
    create_session(account.ec2, secondary, target, mirror_filter)

    # When the instance is terminated
    account.terminate(instance)

    # Then that ENI and its session are gone too
    code = error_code(account.ec2.describe_network_interfaces, NetworkInterfaceIds=[secondary])
    assert code == "InvalidNetworkInterfaceID.NotFound"
    assert account.sessions() == []


def test_terminating_a_terminated_instance_again_succeeds(account, eni):
    # Given a terminated instance
    instance = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Attachment"][
        "InstanceId"
    ]
    account.terminate(instance)

    # When it is terminated again (AWS's TerminateInstances is idempotent)
    answer = account.ec2.terminate_instances(InstanceIds=[instance])

    # Then the call succeeds: the instance was already terminated (moto always reports "shutting-down" as current)
    assert answer["TerminatingInstances"][0]["PreviousState"]["Name"] == "terminated"
    assert account.instance(instance)["State"]["Name"] == "terminated"


def test_stopping_an_instance_keeps_its_sessions(account, eni, target, mirror_filter):
    # Given a mirrored instance
    session = create_session(account.ec2, eni, target, mirror_filter)
    instance = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Attachment"][
        "InstanceId"
    ]

    # When it is stopped
    account.stop(instance)

    # Then its session stays (and bills)
    assert all_session_ids(account) == {session}


@pytest.mark.parametrize("state", ["running", "terminated"])
def test_the_type_of_an_instance_that_is_not_stopped_cannot_change(account, state):
    # Given a running instance (or a terminated one)
    instance = account.launch("m5.large")
    if state == "terminated":
        account.terminate(instance)

    # When its type is changed (AWS: "You must stop your instance before you can change its instance type")
    code = error_code(account.ec2.modify_instance_attribute, InstanceId=instance, InstanceType={"Value": "t2.micro"})

    # Then AWS refuses, and the type stays
    assert code == "IncorrectInstanceState"
    assert account.instance(instance)["InstanceType"] == "m5.large"


def test_the_type_of_a_stopped_instance_changes_and_its_sessions_stay(account, eni, target, mirror_filter):
    # Given a mirrored instance, stopped
    session = create_session(account.ec2, eni, target, mirror_filter)
    instance = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Attachment"][
        "InstanceId"
    ]
    account.stop(instance)

    # When its type is changed to one AWS refuses as a source, and it starts again
    account.ec2.modify_instance_attribute(InstanceId=instance, InstanceType={"Value": "t2.micro"})
    account.start(instance)

    # Then it runs as the new type, and its session stays (AWS deletes no session for a type change)
    assert account.instance(instance)["InstanceType"] == "t2.micro"
    assert all_session_ids(account) == {session}


# -- 11. ModifyTrafficMirrorSession ------------------------------------------------------------------------------------
def test_moving_a_session_to_a_full_eni_target_is_refused(account, target, mirror_filter):
    # Given a full ENI target (10 sources) and a session of an 11th ENI on another target
    enis = source_enis(account, 11)
    for source in enis[:10]:
        create_session(account.ec2, source, target, mirror_filter)
    session = create_session(account.ec2, enis[10], account.nlb_target(), mirror_filter)

    # When the session is moved to the full target
    code = error_code(
        account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=session, TrafficMirrorTargetId=target
    )

    # Then AWS refuses it and the session stays where it was
    assert code == "TrafficMirrorSourcesPerTargetLimitExceeded"
    assert len(account.sessions(traffic_mirror_target_id=target)) == 10


def test_moving_a_session_to_an_unknown_target_or_filter_is_not_found(account, eni, target, mirror_filter):
    # Given a session
    session = create_session(account.ec2, eni, target, mirror_filter)

    # When it is moved to an unknown target, or given an unknown filter
    to_target = error_code(
        account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=session, TrafficMirrorTargetId=UNKNOWN_TARGET
    )
    to_filter = error_code(
        account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=session, TrafficMirrorFilterId=UNKNOWN_FILTER
    )

    # Then AWS answers NotFound and the session is unchanged
    assert to_target == "InvalidTrafficMirrorTargetId.NotFound"
    assert to_filter == "InvalidTrafficMirrorFilterId.NotFound"
    assert account.sessions()[0]["TrafficMirrorTargetId"] == target


def test_moving_a_session_to_another_target_works(account, eni, target, mirror_filter):
    # Given a session on an ENI target, and an NLB target
    session = create_session(account.ec2, eni, target, mirror_filter)
    new_target = account.nlb_target()

    # When the session is moved to the NLB target
    answer = account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=session, TrafficMirrorTargetId=new_target)

    # Then it mirrors to the new target
    assert answer["TrafficMirrorSession"]["TrafficMirrorTargetId"] == new_target
    assert account.sessions(traffic_mirror_target_id=new_target)[0]["TrafficMirrorSessionId"] == session


def test_a_session_moved_within_its_full_target_or_renumbered_keeps_the_rules(account, target, mirror_filter):
    # Given a full ENI target and a source ENI with sessions numbered 1 and 2
    enis = source_enis(account, 10)
    for source in enis:
        create_session(account.ec2, source, target, mirror_filter, 1)
    second = create_session(account.ec2, enis[0], account.nlb_target(), mirror_filter, 2)

    # When the second session of an existing source moves to the full target, or is renumbered onto number 1
    account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=second, TrafficMirrorTargetId=target)
    code = error_code(account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=second, SessionNumber=1)

    # Then the move is accepted (the source is already counted) and the duplicate number is rejected
    assert code == "InvalidParameterValue"
    assert len(account.sessions(traffic_mirror_target_id=target)) == 11


# -- 12. describes that lag ------------------------------------------------------------------------------------------
def session_ids(answer: dict[str, Any]) -> set[str]:
    return {s["TrafficMirrorSessionId"] for s in answer["TrafficMirrorSessions"]}


def test_a_created_session_is_hidden_from_exactly_the_next_n_describes(account, strict, eni, target, mirror_filter):
    # Given describes that lag by 2 calls
    strict.describe_lag = 2

    # When a session is created and sessions are described four times (by ENI, by ID, all, all)
    session = create_session(account.ec2, eni, target, mirror_filter, 1)
    by_eni = account.ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "network-interface-id", "Values": [eni]}])
    by_id = error_code(account.ec2.describe_traffic_mirror_sessions, TrafficMirrorSessionIds=[session])
    third = account.ec2.describe_traffic_mirror_sessions()
    fourth = account.ec2.describe_traffic_mirror_sessions()

    # Then the first two calls do not show it (by ID: NotFound), the third and later do
    assert by_eni["TrafficMirrorSessions"] == []
    assert by_id == "InvalidTrafficMirrorSessionId.NotFound"
    assert session_ids(third) == session_ids(fourth) == {session}


def test_creates_see_the_truth_while_describes_lag(account, strict, eni, target, mirror_filter):
    # Given a session just created, which lagging describes do not show yet
    strict.describe_lag = 5
    create_session(account.ec2, eni, target, mirror_filter, 1)
    assert account.ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"] == []

    # When the same number is used again, and two more sessions are created on the ENI
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 1))
    create_session(account.ec2, eni, target, mirror_filter, 2)
    create_session(account.ec2, eni, target, mirror_filter, 3)

    # Then AWS judges on the sessions that exist: number 1 is taken, and a fourth is over the limit
    assert code == "InvalidParameterValue"
    fourth = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 4))
    assert fourth == "TrafficMirrorSessionsPerInterfaceLimitExceeded"


def test_a_deleted_session_stays_in_exactly_the_next_n_describes(account, strict, eni, target, mirror_filter):
    # Given a session created before describes lagged, then deleted with a lag of 2
    session = create_session(account.ec2, eni, target, mirror_filter, 1)
    account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=session, Description="as it was")
    strict.describe_lag = 2
    account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=session)

    # When sessions are described three times, and the session is deleted again
    first = account.ec2.describe_traffic_mirror_sessions(TrafficMirrorSessionIds=[session])
    second = account.ec2.describe_traffic_mirror_sessions(Filters=[{"Name": "network-interface-id", "Values": [eni]}])
    third = account.ec2.describe_traffic_mirror_sessions()
    again = error_code(account.ec2.delete_traffic_mirror_session, TrafficMirrorSessionId=session)

    # Then the first two still show it as it was, the third does not, and the delete sees the truth
    assert session_ids(first) == session_ids(second) == {session}
    assert first["TrafficMirrorSessions"][0]["Description"] == "as it was"
    assert third["TrafficMirrorSessions"] == []
    assert again == "InvalidTrafficMirrorSessionId.NotFound"


def test_a_session_deleted_with_its_eni_also_lingers_in_lagging_describes(account, strict, target, mirror_filter):
    # Given a detached secondary ENI with a session, and describes lagging by 1
    _, secondary = account.enis_of(account.launch("m5.large", extra_enis=1))
    session = create_session(account.ec2, secondary, target, mirror_filter)
    attachment = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[secondary])["NetworkInterfaces"][0][
        "Attachment"
    ]["AttachmentId"]
    account.ec2.detach_network_interface(AttachmentId=attachment)
    strict.describe_lag = 1

    # When the ENI is deleted (AWS deletes its sessions) and sessions are described twice
    account.ec2.delete_network_interface(NetworkInterfaceId=secondary)
    first = account.ec2.describe_traffic_mirror_sessions()
    second = account.ec2.describe_traffic_mirror_sessions()

    # Then the first call still shows the session, the second does not
    assert session_ids(first) == {session}
    assert second["TrafficMirrorSessions"] == []


def test_a_created_target_is_hidden_from_the_next_n_target_describes(account, strict):
    # Given target describes lagging by 1 (session describes do not lag)
    strict.target_describe_lag = 1

    # When a target is created and targets are described twice
    target = account.eni_target()
    first = account.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]
    second = account.ec2.describe_traffic_mirror_targets()["TrafficMirrorTargets"]

    # Then the first call does not show it, the second does
    assert first == []
    assert [t["TrafficMirrorTargetId"] for t in second] == [target]


# -- 13. ClientToken replay and duplicate session numbers (switches) --------------------------------------------------
def test_tokens_are_ignored_when_aws_forgot_them(account, strict, eni, target, mirror_filter):
    # Given a session created with a token, then deleted, and AWS no longer remembering tokens
    first = create_session(account.ec2, eni, target, mirror_filter, 1, ClientToken="token-1")
    account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=first)
    strict.token_replay = False

    # When the same call is repeated, and the token is reused with other parameters
    again = create_session(account.ec2, eni, target, mirror_filter, 1, ClientToken="token-1")
    other = create_session(account.ec2, eni, target, mirror_filter, 2, ClientToken="token-1")

    # Then each call creates a new session
    assert again != first
    assert all_session_ids(account) == {again, other}


def test_a_failed_create_does_not_record_its_token(account, eni, target, mirror_filter):
    # Given a create refused for an unknown filter, with a token
    refused = error_code(
        account.ec2.create_traffic_mirror_session, **session_args(eni, target, UNKNOWN_FILTER), ClientToken="token-1"
    )

    # When the token is used for a valid create
    session = create_session(account.ec2, eni, target, mirror_filter, 1, ClientToken="token-1")

    # Then the create succeeds: the failed call left no answer to replay
    assert refused == "InvalidTrafficMirrorFilterId.NotFound"
    assert all_session_ids(account) == {session}


def test_a_repeated_session_number_is_accepted_when_aws_accepts_it(account, strict, eni, target, mirror_filter):
    # Given an ENI with sessions 1 and 2, and AWS accepting a number already used on the ENI
    create_session(account.ec2, eni, target, mirror_filter, 1)
    second = create_session(account.ec2, eni, target, mirror_filter, 2)
    strict.duplicate_numbers_accepted = True

    # When a third session takes number 1, and the second is renumbered 1
    create_session(account.ec2, eni, target, mirror_filter, 1)
    account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=second, SessionNumber=1)

    # Then all three sessions carry number 1, and the per-ENI limit still holds
    assert [s["SessionNumber"] for s in account.sessions_on(eni)] == [1, 1, 1]
    code = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 4))
    assert code == "TrafficMirrorSessionsPerInterfaceLimitExceeded"


def test_switches_are_reset_when_the_layer_is_left(aws_env):
    # Given a layer whose switches were all changed
    layer = StrictAws(page_cap=7)
    with mock_aws(), layer:
        layer.page_cap = 5
        layer.accept_family("m8g")
        layer.describe_lag = layer.target_describe_lag = 3
        layer.token_replay = False
        layer.duplicate_numbers_accepted = True
        layer.ipv6_only_sources_refused = True

    # When it has been left
    # Then every switch is back to its default (page_cap to the one it was made with)
    assert layer.page_cap == 7
    assert layer.accept_families == set()
    assert (layer.describe_lag, layer.target_describe_lag) == (0, 0)
    assert layer.token_replay is True
    assert layer.duplicate_numbers_accepted is False
    assert layer.ipv6_only_sources_refused is False


# -- 14. sessions of other accounts -----------------------------------------------------------------------------------
def test_a_hidden_session_blocks_its_number_counts_to_three_and_cannot_be_seen(account, strict, eni, mirror_filter):
    # Given our ENI in a shared VPC with session number 1 of another account, which we cannot describe
    target = account.nlb_target()
    hidden = strict.add_hidden_session(eni, 1)

    # When we create session number 1, then numbers 2 and 3, then number 4
    taken = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 1))
    ours = {create_session(account.ec2, eni, target, mirror_filter, n) for n in (2, 3)}
    full = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 4))

    # Then number 1 is taken, the ENI is full with 2 of ours, and no describe shows the hidden session
    assert taken == "InvalidParameterValue"
    assert full == "TrafficMirrorSessionsPerInterfaceLimitExceeded"
    assert {s["TrafficMirrorSessionId"] for s in account.sessions_on(eni)} == ours
    assert all_session_ids(account) == ours
    assert account.sessions(session_number="1") == []
    assert error_code(account.ec2.describe_traffic_mirror_sessions, TrafficMirrorSessionIds=[hidden]).endswith(
        "NotFound"
    )
    # and we can neither delete nor modify it
    assert error_code(account.ec2.delete_traffic_mirror_session, TrafficMirrorSessionId=hidden).endswith("NotFound")
    modify = error_code(account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=hidden, Description="x")
    assert modify == "InvalidTrafficMirrorSessionId.NotFound"


def test_a_hidden_sessions_number_is_accepted_when_aws_accepts_repeats(account, strict, eni, target, mirror_filter):
    # Given a hidden session number 1 on our ENI, and AWS accepting repeated numbers
    strict.add_hidden_session(eni, 1)
    strict.duplicate_numbers_accepted = True

    # When we create session number 1
    session = create_session(account.ec2, eni, target, mirror_filter, 1)

    # Then it exists, and it is the only session we see
    assert all_session_ids(account) == {session}


def test_another_accounts_session_on_our_target_is_visible_but_not_ours_to_change(
    account, strict, eni, target, mirror_filter
):
    # Given one session of ours and one of another account (its own source ENI) on our target
    ours = create_session(account.ec2, eni, target, mirror_filter)
    theirs = strict.add_foreign_account_session(target, mirror_filter, owner_id="444455556666", tags={"team": "sec"})

    # When sessions are described, and we try to delete or modify theirs
    described = {s["TrafficMirrorSessionId"]: s for s in account.sessions()}
    delete = error_code(account.ec2.delete_traffic_mirror_session, TrafficMirrorSessionId=theirs)
    modify = error_code(account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=theirs, SessionNumber=9)

    # Then both show with their owner (theirs with its tags), and AWS refuses to let us change theirs
    assert described[ours]["OwnerId"] == "123456789012"
    assert described[theirs]["OwnerId"] == "444455556666"
    assert described[theirs]["Tags"] == [{"Key": "team", "Value": "sec"}]
    assert described[theirs]["NetworkInterfaceId"] != eni
    assert [s["TrafficMirrorSessionId"] for s in account.sessions(owner_id="444455556666")] == [theirs]
    assert (delete, modify) == ("UnauthorizedOperation", "UnauthorizedOperation")
    assert account.sessions(owner_id="444455556666")[0]["SessionNumber"] == 1


def test_another_accounts_sources_count_toward_our_targets_limit(account, strict, target, mirror_filter):
    # Given our ENI target (10 sources) mirroring 6 ENIs of another account and 4 of ours
    for _ in range(6):
        strict.add_foreign_account_session(target, mirror_filter)
    fill(account, target, mirror_filter, 4)

    # When one more of our ENIs is mirrored to it
    code = error_code(
        account.ec2.create_traffic_mirror_session, **session_args(source_enis(account, 1)[0], target, mirror_filter)
    )

    # Then AWS refuses it: the target has 10 sources
    assert code == "TrafficMirrorSourcesPerTargetLimitExceeded"
    assert len(account.sessions(traffic_mirror_target_id=target)) == 10


# -- 15. targets shared in from another account -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("network-interface", "NetworkInterfaceId"),
        ("network-load-balancer", "NetworkLoadBalancerArn"),
        ("gateway-load-balancer-endpoint", "GatewayLoadBalancerEndpointId"),
    ],
)
def test_a_shared_target_is_visible_and_usable_but_its_resource_is_not_ours(
    account, strict, eni, mirror_filter, kind, field
):
    # Given a target another account shares with us
    target = strict.add_shared_target(kind, owner_id="444455556666")

    # When we describe it and mirror an ENI to it
    described = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"][0]
    session = create_session(account.ec2, eni, target, mirror_filter)

    # Then it shows with its owner and type, takes our session, and its resource is not describable here
    assert (described["OwnerId"], described["Type"]) == ("444455556666", kind)
    assert account.sessions(traffic_mirror_target_id=target)[0]["TrafficMirrorSessionId"] == session
    resource = described[field]
    if kind == "network-interface":
        code = error_code(account.ec2.describe_network_interfaces, NetworkInterfaceIds=[resource])
        assert code == "InvalidNetworkInterfaceID.NotFound"
    elif kind == "network-load-balancer":
        assert error_code(account.elbv2.describe_load_balancers, LoadBalancerArns=[resource]) == "LoadBalancerNotFound"
    else:
        assert error_code(account.ec2.describe_vpc_endpoints, VpcEndpointIds=[resource]).endswith("NotFound")


@pytest.mark.parametrize(("host_type", "takes_eleventh"), [(None, False), ("c5.large", False), ("c5.18xlarge", True)])
def test_a_shared_eni_targets_limit_follows_its_host_type(account, strict, mirror_filter, host_type, takes_eleventh):
    # Given a shared ENI target (host type known or not) with 10 sources
    target = strict.add_shared_target(host_instance_type=host_type)
    fill(account, target, mirror_filter, 10)

    # When an 11th ENI is mirrored to it
    eleventh = source_enis(account, 1)[0]
    if takes_eleventh:
        create_session(account.ec2, eleventh, target, mirror_filter)
        answer = "accepted"
    else:
        answer = error_code(account.ec2.create_traffic_mirror_session, **session_args(eleventh, target, mirror_filter))

    # Then AWS takes it only when the host type is on the 100-source list
    assert answer == ("accepted" if takes_eleventh else "TrafficMirrorSourcesPerTargetLimitExceeded")


# -- 16. the resource behind a target deleted -------------------------------------------------------------------------
def test_deleting_the_resource_behind_any_target_keeps_the_target_and_its_sessions(account, mirror_filter):
    # Given an NLB target, a Gateway Load Balancer endpoint target and an ENI target, each with a session
    targets = [account.nlb_target(), account.gwlb_endpoint_target(), account.eni_target()]
    enis = source_enis(account, 6)
    sessions = {create_session(account.ec2, enis[i], t, mirror_filter) for i, t in enumerate(targets)}
    nlb_arn, endpoint_id, appliance_eni = (
        account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[t])["TrafficMirrorTargets"][0].get(field)
        for t, field in zip(
            targets, ["NetworkLoadBalancerArn", "GatewayLoadBalancerEndpointId", "NetworkInterfaceId"], strict=True
        )
    )

    # When the resource behind each is deleted (NLB, endpoint, appliance terminated)
    for target in targets:
        account.kill_target(target)

    # Then the resources are gone
    assert error_code(account.elbv2.describe_load_balancers, LoadBalancerArns=[nlb_arn]) == "LoadBalancerNotFound"
    endpoints = account.ec2.describe_vpc_endpoints()["VpcEndpoints"]
    assert [e["State"] for e in endpoints if e["VpcEndpointId"] == endpoint_id] in ([], ["deleted"])
    code = error_code(account.ec2.describe_network_interfaces, NetworkInterfaceIds=[appliance_eni])
    assert code == "InvalidNetworkInterfaceID.NotFound"
    # and the targets and sessions remain; new sessions can be created on them, and sessions moved to them
    described = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=targets)["TrafficMirrorTargets"]
    assert len(described) == 3
    assert all_session_ids(account) == sessions
    for i, target in enumerate(targets):
        create_session(account.ec2, enis[3 + i], target, mirror_filter)
    moved = next(iter(sessions))
    account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=moved, TrafficMirrorTargetId=targets[1])
    assert len(account.sessions()) == 6


def test_an_eni_target_whose_appliance_is_gone_counts_ten_sources(account, mirror_filter):
    # Given an ENI target on a c5.18xlarge (100 sources) with 10 sources, whose appliance is then terminated
    target = account.eni_target(instance_type="c5.18xlarge")
    fill(account, target, mirror_filter, 10)
    account.kill_target(target)

    # When an 11th ENI is mirrored to it
    code = error_code(
        account.ec2.create_traffic_mirror_session, **session_args(source_enis(account, 1)[0], target, mirror_filter)
    )

    # Then AWS refuses it: without its ENI the target counts 10
    assert code == "TrafficMirrorSourcesPerTargetLimitExceeded"


def test_killing_a_secondary_eni_target_deletes_only_that_eni(account, mirror_filter):
    # Given an ENI target on a secondary ENI of an appliance
    appliance = account.launch("c5.large", extra_enis=1)
    primary, secondary = account.enis_of(appliance)
    target = account.ec2.create_traffic_mirror_target(NetworkInterfaceId=secondary)["TrafficMirrorTarget"][
        "TrafficMirrorTargetId"
    ]

    # When the resource behind the target is deleted
    account.kill_target(target)

    # Then that ENI is gone, the appliance runs on, and the target remains
    assert error_code(account.ec2.describe_network_interfaces, NetworkInterfaceIds=[secondary]).endswith("NotFound")
    assert account.instance(appliance)["State"]["Name"] == "running"
    assert account.enis_of(appliance) == [primary]
    assert account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"]


# -- 17. load balancers and endpoints behind targets -----------------------------------------------------------------
def test_an_nlb_target_has_a_udp_listener_on_4789_unless_asked_not_to(account):
    # Given an NLB target made the default way, and one made without listener
    with_listener = account.nlb_target(name="with-listener")
    without = account.nlb_target(name="without-listener", udp_listener=False)

    # When their load balancers' listeners are described
    def listeners(target_id: str) -> list[tuple[str, int]]:
        arn = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target_id])["TrafficMirrorTargets"][
            0
        ]["NetworkLoadBalancerArn"]
        found = account.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        return [(x["Protocol"], x["Port"]) for x in found]

    # Then the first listens on UDP 4789 (forwarding to a UDP target group), the second not at all
    assert listeners(with_listener) == [("UDP", 4789)]
    assert listeners(without) == []
    groups = account.elbv2.describe_target_groups()["TargetGroups"]
    assert [(g["Protocol"], g["Port"]) for g in groups] == [("UDP", 4789)]


def test_a_gateway_load_balancer_endpoint_target_is_an_available_endpoint_in_its_zone(account):
    # Given a Gateway Load Balancer endpoint target in the second zone
    zone = account.zones[1]
    target = account.gwlb_endpoint_target(zone)

    # When the target, its endpoint, the endpoint's ENI and the load balancer are described
    described = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"][0]
    endpoint = account.ec2.describe_vpc_endpoints(VpcEndpointIds=[described["GatewayLoadBalancerEndpointId"]])[
        "VpcEndpoints"
    ][0]
    eni = account.ec2.describe_network_interfaces(NetworkInterfaceIds=endpoint["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ][0]
    balancer = account.elbv2.describe_load_balancers()["LoadBalancers"][0]

    # Then the target is of type gateway-load-balancer-endpoint on an available GatewayLoadBalancer endpoint in the
    # zone's subnet, whose one ENI (AWS-managed, type gateway_load_balancer_endpoint) is in that zone
    assert described["Type"] == "gateway-load-balancer-endpoint"
    assert (endpoint["VpcEndpointType"], endpoint["State"]) == ("GatewayLoadBalancer", "available")
    assert endpoint["SubnetIds"] == [account.subnets[zone]]
    assert (eni["AvailabilityZone"], eni["InterfaceType"], eni["RequesterManaged"]) == (
        zone,
        "gateway_load_balancer_endpoint",
        True,
    )
    assert balancer["Type"] == "gateway"
    assert ":loadbalancer/gwy/" in balancer["LoadBalancerArn"]


def test_a_gateway_load_balancer_endpoint_needs_an_existing_service(account):
    # Given an account with no endpoint service
    vpc_id = account.vpc_of(account.subnets[account.zones[0]])

    # When a Gateway Load Balancer endpoint is created for a made-up service
    code = error_code(
        account.ec2.create_vpc_endpoint,
        VpcEndpointType="GatewayLoadBalancer",
        VpcId=vpc_id,
        ServiceName="com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
        SubnetIds=[account.subnets[account.zones[0]]],
    )

    # Then AWS refuses it
    assert code == "InvalidServiceName"


@pytest.mark.parametrize("unknown_first", [True, False])
def test_describe_load_balancers_fails_as_a_whole_on_one_unknown_arn(account, unknown_first):
    # Given an NLB, and the ARN of one that does not exist
    arn = account.elbv2.create_load_balancer(Name="known", Subnets=[account.subnets[account.zones[0]]], Type="network")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    unknown = arn.replace("/known/", "/unknown/")

    # When both are described in one call (either order), and by name
    arns = [unknown, arn] if unknown_first else [arn, unknown]
    by_arn = error_code(account.elbv2.describe_load_balancers, LoadBalancerArns=arns)
    by_name = error_code(account.elbv2.describe_load_balancers, Names=["known", "unknown"])

    # Then the whole call fails, as AWS does; the known one alone is found, with an NLB's ARN
    assert (by_arn, by_name) == ("LoadBalancerNotFound", "LoadBalancerNotFound")
    assert len(account.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]) == 1
    assert ":loadbalancer/net/known/" in arn


# -- 17b. worlds from AWS's defaults (issue 19) --------------------------------------------------------------------
def test_a_vpcs_default_security_group_admits_only_its_own_members(account):
    """https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html#default-security-group-default-rules:
    one inbound rule, all traffic from the group itself (moto makes the group with none)."""
    # Given the default VPC and a new one
    for vpc_id in (account.vpc_id, account.new_vpc("10.60.0.0/16").vpc_id):
        # When their default security groups are described
        (group,) = account.ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        # Then each admits all traffic from its own members, and nothing named by an address
        (rule,) = group["IpPermissions"]
        assert rule["IpProtocol"] == "-1" and rule["IpRanges"] == [] and rule.get("Ipv6Ranges", []) == []
        assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [group["GroupId"]]


def test_an_instance_launched_without_groups_is_in_its_vpcs_default_group(account):
    """https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html: "if you don't specify a security
    group when you launch an EC2 instance, we associate the instance with the default security group for its VPC"."""
    nic = account.instance(account.launch())["NetworkInterfaces"][0]
    assert [g["GroupName"] for g in nic["Groups"]] == ["default"]


def test_a_vpcs_default_network_acl_allows_all_inbound_then_denies_the_rest(account):
    """https://docs.aws.amazon.com/vpc/latest/userguide/default-network-acl.html: rule 100 allows all IPv4, the
    ``*`` rule (32767) denies; IPv6 rules only for a VPC with an IPv6 block."""
    subnet = account.subnets[account.zones[0]]
    (acl,) = account.ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
        "NetworkAcls"
    ]
    inbound = sorted(
        (e["RuleNumber"], e["Protocol"], e["CidrBlock"], e["RuleAction"]) for e in acl["Entries"] if not e["Egress"]
    )
    assert inbound == [(100, "-1", "0.0.0.0/0", "allow"), (32767, "-1", "0.0.0.0/0", "deny")]
    assert acl["IsDefault"] is True


def test_a_new_vpc_is_ipv4_only_unless_asked(account):
    """https://docs.aws.amazon.com/vpc/latest/userguide/configure-subnets.html#subnet-ip-address-range: IPv6 only when
    a block is associated."""
    plain, dual = account.new_vpc("10.61.0.0/16"), account.new_vpc("10.62.0.0/16", ipv6=True)
    vpcs = {v["VpcId"]: v for v in account.ec2.describe_vpcs(VpcIds=[plain.vpc_id, dual.vpc_id])["Vpcs"]}
    assert not vpcs[plain.vpc_id].get("Ipv6CidrBlockAssociationSet")
    assert vpcs[dual.vpc_id]["Ipv6CidrBlockAssociationSet"]
    instance = plain.launch()
    assert account.instance(instance)["NetworkInterfaces"][0].get("Ipv6Addresses", []) == []


def test_an_nlb_has_cross_zone_off_and_no_security_groups_and_its_target_group_defers(account):
    """Cross-zone: "With Network Load Balancers, cross-zone load balancing is disabled by default at the load balancer
    level ... For target groups, the default is to use the load balancer setting"
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/edit-target-group-attributes.html
    #target-group-cross-zone). Security groups: none unless given at creation, and none can be added later
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html)."""
    # Given an NLB target made as AWS makes it
    target = account.nlb_target()
    arn = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"][0][
        "NetworkLoadBalancerArn"
    ]
    balancer = account.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    attributes = account.elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    (group,) = account.elbv2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
    group_attributes = account.elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])
    # Then cross-zone is off at the load balancer, its target group defers to it, and it has no security group
    assert {a["Key"]: a["Value"] for a in attributes}["load_balancing.cross_zone.enabled"] == "false"
    assert {a["Key"]: a["Value"] for a in group_attributes["Attributes"]}[
        "load_balancing.cross_zone.enabled"
    ] == "use_load_balancer_configuration"
    assert balancer.get("SecurityGroups", []) == []
    # And none can be given to it later; an NLB made with one can change its groups
    default_group = account.instance(account.launch())["NetworkInterfaces"][0]["Groups"][0]["GroupId"]
    assert error_code(account.elbv2.set_security_groups, LoadBalancerArn=arn, SecurityGroups=[default_group]) == (
        "InvalidConfigurationRequest"
    )
    guarded = account.nlb_target(name="guarded", security_groups=[default_group])
    guarded_arn = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[guarded])["TrafficMirrorTargets"][
        0
    ]["NetworkLoadBalancerArn"]
    account.elbv2.set_security_groups(LoadBalancerArn=guarded_arn, SecurityGroups=[default_group])


def test_an_eni_in_an_ipv6_only_subnet_has_no_private_ipv4_address(account):
    """An IPv6-only subnet has no IPv4 range, and EC2 gives a primary private IPv4 address only in IPv4-only and
    dual-stack subnets (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-instance-addressing.html
    #concepts-private-addresses). moto would hand it an IPv6 address as its private IPv4 address."""
    # Given a dual-stack VPC with an IPv6-only subnet, an instance there and a standalone ENI there
    dual = account.new_vpc("10.63.0.0/16", ipv6=True)
    subnet = dual.ipv6_only_subnet()
    instance = dual.launch(subnet_id=subnet)
    eni = account.ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    # When they are described
    described = account.instance(instance)
    nic = described["NetworkInterfaces"][0]
    standalone = account.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    # Then none has a private IPv4 address, each has an IPv6 address of the subnet
    assert "PrivateIpAddress" not in described and "PrivateIpAddress" not in nic
    assert "PrivateIpAddress" not in standalone and standalone.get("PrivateIpAddresses", []) == []
    assert all(":" in a["Ipv6Address"] for a in [*nic["Ipv6Addresses"], *standalone["Ipv6Addresses"]])
    assert nic["Ipv6Addresses"] and standalone["Ipv6Addresses"]
    # And an instance of the dual-stack subnets keeps its private IPv4 address
    assert "." in account.instance(dual.launch())["NetworkInterfaces"][0]["PrivateIpAddress"]


@pytest.mark.parametrize("refused", [False, True])
def test_a_session_from_an_ipv6_only_subnet_answers_as_the_switch_says(account, strict, target, mirror_filter, refused):
    """https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html: "Traffic Mirroring
    is not supported for IPv6-only subnets"; what CreateTrafficMirrorSession answers is not documented."""
    strict.ipv6_only_sources_refused = refused
    dual = account.new_vpc("10.64.0.0/16", ipv6=True)
    eni = account.enis_of(dual.launch(subnet_id=dual.ipv6_only_subnet()))[0]
    if refused:
        assert error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter)) == (
            "InvalidParameterValue"
        )
    else:
        assert create_session(account.ec2, eni, target, mirror_filter)


# -- 18. over HTTP -----------------------------------------------------------------------------------------------------
def test_the_rules_hold_for_a_threaded_moto_server_in_this_process(aws_env):
    # Given a moto server in this process with the strict layer active
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        with StrictAws() as layer:
            account = SimulatedAccount(endpoint_url=url)
            eni = account.enis_of(account.launch("m7i.large"))[0]
            target, mirror_filter = account.eni_target(instance_type="p5.4xlarge"), account.mirror_filter()
            layer.add_hidden_session(eni, 1)
            theirs = layer.add_foreign_account_session(target, mirror_filter)
            layer.describe_lag = 1

            # When sessions are created and described over HTTP
            taken = error_code(account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 1))
            ours = create_session(account.ec2, eni, target, mirror_filter, 2)
            lagging = all_session_ids(account)
            settled = {s["TrafficMirrorSessionId"]: s["OwnerId"] for s in account.sessions()}
            unsupported = account.enis_of(account.launch("m8g.large"))[0]
            refused = error_code(
                account.ec2.create_traffic_mirror_session, **session_args(unsupported, target, mirror_filter)
            )

        # Then the server answers as AWS does
        assert (taken, refused) == ("InvalidParameterValue", "NetworkInterfaceNotSupported")
        assert lagging == {theirs}
        assert settled == {theirs: "111122223333", ours: "123456789012"}
    finally:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        server.stop()


# -- 19. outside the layer ---------------------------------------------------------------------------------------------
def test_leaving_the_layer_restores_moto_behaviour(aws_env):
    # Given a strict layer that was entered and left inside a moto mock
    with mock_aws():
        with StrictAws():
            account = SimulatedAccount()
            eni = account.enis_of(account.launch("m5.large"))[0]
            target, mirror_filter = account.eni_target(), account.mirror_filter()
            for number in (1, 2, 3):
                create_session(account.ec2, eni, target, mirror_filter, number)
            inside = error_code(
                account.ec2.create_traffic_mirror_session, **session_args(eni, target, mirror_filter, 4)
            )

        # When a fourth session is created on the ENI outside the layer, and an unknown session is deleted
        create_session(account.ec2, eni, target, mirror_filter, 4)
        account.ec2.delete_traffic_mirror_session(TrafficMirrorSessionId=UNKNOWN_SESSION)

        # Then moto's permissive behaviour is back
        assert inside == "TrafficMirrorSessionsPerInterfaceLimitExceeded"
        assert len(account.ec2.describe_traffic_mirror_sessions()["TrafficMirrorSessions"]) == 4


# -- 20. STS AssumeRole: the role must exist and trust the caller ------------------------------------------------------
AUDIT_ACCOUNT = "123456789012"  # moto's default account: the caller
MEMBER_ACCOUNT = "210987654321"


def in_account(account_id: str) -> Any:
    """A boto3 session whose requests land in ``account_id`` (moto's ``x-moto-account-id``): how a test prepares an
    account it has no role in yet."""
    import boto3

    session = boto3.session.Session(region_name="us-east-1")

    def to_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id

    session.events.register("request-created.*.*", to_account)
    return session


def trust(*principals: str, effect: str = "Allow", action: Any = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return {"Effect": effect, "Principal": {"AWS": list(principals)}, "Action": action, **extra}


def member_role(name: str, *statements: dict[str, Any], path: str = "/", account_id: str = MEMBER_ACCOUNT) -> str:
    import json

    arn: str = (
        in_account(account_id)
        .client("iam")
        .create_role(
            RoleName=name,
            Path=path,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        )["Role"]["Arn"]
    )
    return arn


def denied(sts: Any, role_arn: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="strict-test")
    return caught.value


def assumed(sts: Any, role_arn: str) -> Any:
    import boto3

    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="strict-test")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


def test_assume_role_of_a_role_that_does_not_exist_is_access_denied(strict):
    import boto3

    sts = boto3.client("sts")
    missing = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/traffic-mirroring-audit-us-east-1"

    error = denied(sts, missing)

    assert error.response["Error"]["Code"] == "AccessDenied"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{AUDIT_ACCOUNT}:user/moto is not authorized to perform: sts:AssumeRole on resource: "
        f"{missing}"
    )


def test_a_role_that_trusts_the_caller_account_is_assumed_and_its_credentials_act_in_its_account(strict):
    import boto3

    sts = boto3.client("sts")
    by_id = member_role("by-id", trust(AUDIT_ACCOUNT))
    by_root = member_role("by-root", trust(f"arn:aws:iam::{AUDIT_ACCOUNT}:root"))
    by_anyone = member_role("by-anyone", {"Effect": "Allow", "Principal": "*", "Action": "sts:*"})
    in_path = member_role("in-path", trust(AUDIT_ACCOUNT), path="/audit/")

    for arn in (by_id, by_root, by_anyone, in_path):
        session = assumed(sts, arn)
        # moto >= 5: the assumed role's credentials act in the role's account, as AWS's do
        assert session.client("sts").get_caller_identity()["Account"] == MEMBER_ACCOUNT
        assert {v["OwnerId"] for v in session.client("ec2").describe_vpcs()["Vpcs"]} == {MEMBER_ACCOUNT}
    # The path is part of the role's ARN: without it, there is no such role
    assert in_path == f"arn:aws:iam::{MEMBER_ACCOUNT}:role/audit/in-path"
    assert denied(sts, f"arn:aws:iam::{MEMBER_ACCOUNT}:role/in-path").response["Error"]["Code"] == "AccessDenied"


def test_a_role_that_does_not_trust_the_caller_is_access_denied(strict):
    import boto3

    sts = boto3.client("sts")
    roles = [
        member_role("another-account", trust("111122223333")),
        member_role("another-root", trust("arn:aws:iam::111122223333:root")),
        member_role("not-assume", trust(AUDIT_ACCOUNT, action="sts:TagSession")),
        member_role("conditional", trust(AUDIT_ACCOUNT, Condition={"StringEquals": {"sts:ExternalId": "x"}})),
        member_role("denied", trust(AUDIT_ACCOUNT), trust(AUDIT_ACCOUNT, effect="Deny")),
        member_role("service", {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*"}),
    ]

    codes = {arn.rsplit("/", 1)[1]: denied(sts, arn).response["Error"]["Code"] for arn in roles}

    assert set(codes.values()) == {"AccessDenied"}, codes


def test_an_assumed_role_session_is_trusted_as_its_role(strict):
    import boto3

    # Given a hub role in the audit account, and member roles that trust that hub role or another role
    hub = member_role("hub", trust(AUDIT_ACCOUNT), account_id=AUDIT_ACCOUNT)
    by_hub = member_role("trusts-hub", trust(hub))
    by_other = member_role("trusts-other", trust(f"arn:aws:iam::{AUDIT_ACCOUNT}:role/other"))
    hub_sts = assumed(boto3.client("sts"), hub).client("sts")

    # When the hub's session assumes each
    session = assumed(hub_sts, by_hub)
    refused = denied(hub_sts, by_other)

    # Then only the role that names the hub lets it in
    assert session.client("sts").get_caller_identity()["Account"] == MEMBER_ACCOUNT
    assert refused.response["Error"]["Code"] == "AccessDenied"
    assert f"User: arn:aws:sts::{AUDIT_ACCOUNT}:assumed-role/hub/strict-test " in refused.response["Error"]["Message"]


def test_moto_alone_assumes_any_role(aws_env):
    import boto3

    with mock_aws():
        sts = boto3.client("sts")
        session = assumed(sts, f"arn:aws:iam::{MEMBER_ACCOUNT}:role/does-not-exist")
        assert session.client("sts").get_caller_identity()["Account"] == MEMBER_ACCOUNT
        with StrictAws():
            assert denied(sts, f"arn:aws:iam::{MEMBER_ACCOUNT}:role/does-not-exist")
        session = assumed(sts, f"arn:aws:iam::{MEMBER_ACCOUNT}:role/does-not-exist")  # the layer left: lax again


# -- 21. Organizations ListAccounts ----------------------------------------------------------------------------------
def test_list_accounts_pages_at_20_and_answers_state_only(strict):
    import boto3

    organizations = boto3.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    for number in range(24):
        organizations.create_account(AccountName=f"member-{number}", Email=f"member-{number}@example.com")

    pages = list(organizations.get_paginator("list_accounts").paginate())
    strict.page_cap = 7
    small_pages = list(organizations.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 20}))

    assert [len(page["Accounts"]) for page in pages] == [20, 5]
    assert [len(page["Accounts"]) for page in small_pages] == [7, 7, 7, 4]
    accounts = [account for page in pages for account in page["Accounts"]]
    assert all(account["State"] == "ACTIVE" and "Status" not in account for account in accounts)
    assert len({account["Id"] for account in accounts}) == 25  # the management account and 24 members


def test_list_accounts_is_for_the_management_account_and_delegated_administrators(strict):
    import boto3

    # Given an account in no organization, then an organization with two members, one a delegated administrator
    outsider = error_code(boto3.client("organizations").list_accounts)
    management = in_account("999999999999").client("organizations")
    management.create_organization(FeatureSet="ALL")
    members = [
        management.create_account(AccountName=f"m{n}", Email=f"m{n}@example.com")["CreateAccountStatus"]["AccountId"]
        for n in range(2)
    ]
    management.register_delegated_administrator(AccountId=members[0], ServicePrincipal="ssm.amazonaws.com")

    # When each lists the organization's accounts
    listed = management.list_accounts()["Accounts"]
    delegated = in_account(members[0]).client("organizations").list_accounts()["Accounts"]
    member = error_code(in_account(members[1]).client("organizations").list_accounts)

    # Then only the management account and the delegated administrator get them
    assert outsider == "AWSOrganizationsNotInUseException"
    assert member == "AccessDeniedException"
    assert sorted(a["Id"] for a in listed) == sorted(a["Id"] for a in delegated) == sorted(["999999999999", *members])


def test_targets_and_filters_carry_aws_prefixes_and_take_tags_like_any_ec2_resource(
    account: SimulatedAccount, strict: StrictAws
) -> None:
    """https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-targets.html: tmt-…; tags on targets."""
    target, filter_id = account.nlb_target(), account.mirror_filter()
    assert target.startswith("tmt-") and filter_id.startswith("tmf-")
    account.tag_target(target, **{"mirror-pool": "prod"})
    described = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"]
    assert described[0]["Tags"] == [{"Key": "mirror-pool", "Value": "prod"}]
    account.untag_target(target, "mirror-pool")
    described = account.ec2.describe_traffic_mirror_targets(TrafficMirrorTargetIds=[target])["TrafficMirrorTargets"]
    assert not described[0].get("Tags")


# -- session options: PacketLength, VirtualNetworkId, RemoveFields ---------------------------------------------------
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTrafficMirrorSession.html and
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyTrafficMirrorSession.html
@pytest.mark.parametrize(
    ("option", "value"), [("PacketLength", 0), ("PacketLength", 8501), ("VirtualNetworkId", 2**24)]
)
def test_session_options_outside_aws_ranges_are_rejected_on_create_and_modify(
    account, eni, target, mirror_filter, option, value
):
    # Given a session with AWS's defaults
    session = create_session(account.ec2, eni, target, mirror_filter)
    before = account.sessions_on(eni)
    other_eni = account.enis_of(account.launch("m5.large"))[0]
    # When an option outside AWS's range is asked for, on a create and on a modify
    on_create = error_code(
        account.ec2.create_traffic_mirror_session, **session_args(other_eni, target, mirror_filter), **{option: value}
    )
    on_modify = error_code(account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=session, **{option: value})
    # Then AWS rejects both, and nothing changed
    assert (on_create, on_modify) == ("InvalidParameterValue", "InvalidParameterValue")
    assert account.sessions_on(other_eni) == []
    assert account.sessions_on(eni) == before


@pytest.mark.parametrize(("option", "value"), [("PacketLength", 1), ("PacketLength", 8500), ("VirtualNetworkId", 0)])
def test_session_options_at_the_bounds_are_taken(account, eni, target, mirror_filter, option, value):
    create_session(account.ec2, eni, target, mirror_filter, **{option: value})
    assert account.sessions_on(eni)[0][option] == value


def test_without_a_vni_each_session_gets_one_unique_in_the_account(account, target, mirror_filter):
    # Given sessions created without VirtualNetworkId ("an account-wide unique ID is chosen at random")
    enis = source_enis(account, 6)
    for eni in enis:
        create_session(account.ec2, eni, target, mirror_filter)
    # Then each carries a VNI within 24 bits, none twice
    vnis = [s["VirtualNetworkId"] for s in account.sessions()]
    assert len(vnis) == 6 and len(set(vnis)) == 6
    assert all(0 <= vni < 2**24 for vni in vnis)


def test_a_session_on_an_nlb_target_has_packet_length_8500_unless_told_otherwise(account, eni, mirror_filter):
    # Given an NLB target and an ENI target
    nlb, eni_target = account.nlb_target(), account.eni_target()
    other_eni = account.enis_of(account.launch("m5.large"))[0]
    # When sessions are created on each without a PacketLength, and one on the NLB with 200 bytes
    create_session(account.ec2, eni, nlb, mirror_filter)
    create_session(account.ec2, other_eni, eni_target, mirror_filter)
    third = account.enis_of(account.launch("m5.large"))[0]
    create_session(account.ec2, third, nlb, mirror_filter, PacketLength=200)
    # Then the NLB's default is 8500, an ENI target's session mirrors whole packets (no PacketLength)
    assert account.sessions_on(eni)[0]["PacketLength"] == 8500
    assert "PacketLength" not in account.sessions_on(other_eni)[0]
    assert account.sessions_on(third)[0]["PacketLength"] == 200


def test_remove_fields_sets_each_option_back_to_its_default(account, eni, target, mirror_filter):
    # Given a session with a packet length, a VNI and a description
    session = create_session(
        account.ec2, eni, target, mirror_filter, PacketLength=128, VirtualNetworkId=77, Description="tools"
    )
    # When RemoveFields names all three
    answer = account.ec2.modify_traffic_mirror_session(
        TrafficMirrorSessionId=session, RemoveFields=["packet-length", "virtual-network-id", "description"]
    )["TrafficMirrorSession"]
    # Then the session mirrors whole packets under a VNI AWS picked, without description, the same session
    [described] = account.sessions_on(eni)
    assert described["TrafficMirrorSessionId"] == session
    assert "PacketLength" not in described and "Description" not in described
    assert described["VirtualNetworkId"] != 77 and 0 <= described["VirtualNetworkId"] < 2**24
    assert answer == described


def test_removing_the_packet_length_of_a_session_on_an_nlb_target_gives_8500_again(account, eni, mirror_filter):
    session = create_session(account.ec2, eni, account.nlb_target(), mirror_filter, PacketLength=128)
    account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=session, RemoveFields=["packet-length"])
    assert account.sessions_on(eni)[0]["PacketLength"] == 8500


def test_modify_sets_packet_length_and_vni_on_the_same_session(account, eni, target, mirror_filter):
    session = create_session(account.ec2, eni, target, mirror_filter)
    account.ec2.modify_traffic_mirror_session(TrafficMirrorSessionId=session, PacketLength=96, VirtualNetworkId=5)
    [described] = account.sessions_on(eni)
    assert (described["TrafficMirrorSessionId"], described["PacketLength"], described["VirtualNetworkId"]) == (
        session,
        96,
        5,
    )


def test_remove_fields_with_an_unknown_field_is_rejected_and_changes_nothing(account, eni, target, mirror_filter):
    session = create_session(account.ec2, eni, target, mirror_filter, PacketLength=128)
    code = error_code(
        account.ec2.modify_traffic_mirror_session, TrafficMirrorSessionId=session, RemoveFields=["session-number"]
    )
    assert code == "InvalidParameterValue"
    assert account.sessions_on(eni)[0]["PacketLength"] == 128
