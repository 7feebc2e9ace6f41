"""Session options: PacketLength and the VNI of the copies, planned without AWS.

Runs follow each other through ``apply``: each create becomes a session carrying what the create asked for (or a
VNI "AWS picked"), each update changes the session it names. A session keeps its ID when its options change.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from tests import builders
from tests.builders import OURS, SUPPORTED
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.model import AttachedEni, Instance, MirrorSession, MirrorTarget, Plan, Reason, needs_attention
from traffic_mirroring.session_options import KEEP_WINDOW, vni_sequence, vnis_from

ACCOUNT = "111111111111"
VNI_MAX = 16777215


def settings(**changes: Any) -> Settings:
    return builders.settings("tmt-1", account_id=ACCOUNT, **changes)


def target(kind: str = "gateway-load-balancer-endpoint") -> dict[str, MirrorTarget]:
    return {"tmt-1": MirrorTarget("tmt-1", kind, None, frozenset({"zone-a"}), owner_id=ACCOUNT)}


def source(iid: str, vpc: str, **tags: str) -> Instance:
    all_tags = {"mirror": "true", **{k.replace("_", "-"): v for k, v in tags.items()}}
    return builders.instance(iid, tags=all_tags, enis=(AttachedEni(f"eni-{iid}", vpc_id=vpc),), vpc=vpc)


def ours(eni: str, sid: str, *, vni: int | None = None, length: int | None = None, **extra: str) -> MirrorSession:
    return builders.session(
        sid, eni, "tmt-1", instance_id=None, tags=extra, owner_id=ACCOUNT, packet_length=length, vni=vni
    )


def plan(
    instances: Iterable[Instance],
    sessions: Iterable[MirrorSession] = (),
    config: Settings | None = None,
    targets: dict[str, MirrorTarget] | None = None,
) -> Plan:
    found = {i.instance_id: i for i in instances}
    return builders.plan(
        *found.values(),
        settings=config or settings(),
        sessions=sessions,
        targets=target() if targets is None else targets,
        verdicts=SUPPORTED,
    )


_ids = itertools.count(1)


def apply(result: Plan, sessions: Iterable[MirrorSession]) -> list[MirrorSession]:
    """What AWS holds after the plan: creates made (VNI as asked, else one "AWS picked"), updates applied in place."""
    held = {s.session_id: s for s in sessions}
    for d in result.deletes:
        held.pop(d.session.session_id, None)
    for u in result.updates:
        s = held[u.session.session_id]
        length = None if "packet-length" in u.remove_fields else s.packet_length
        length = u.packet_length if u.packet_length is not None else length
        vni = u.virtual_network_id if u.virtual_network_id is not None else s.virtual_network_id
        held[s.session_id] = MirrorSession(
            s.session_id, s.eni_id, s.target_id, s.filter_id, 1, s.tags, ACCOUNT, length, vni
        )
    for c in result.creates:
        sid = f"tms-{next(_ids)}"
        vni = c.virtual_network_id if c.virtual_network_id is not None else 9_000_000 + next(_ids)
        held[sid] = ours(c.eni_id, sid, vni=vni, length=c.packet_length, **{"mirror-instance-id": c.instance_id})
    return list(held.values())


def vnis_by_vpc(sessions: Iterable[MirrorSession], instances: Iterable[Instance]) -> dict[str, set[int | None]]:
    vpc_of = {e.eni_id: e.vpc_id for i in instances for e in i.enis}
    found: dict[str, set[int | None]] = {}
    for s in sessions:
        found.setdefault(vpc_of[s.eni_id], set()).add(s.virtual_network_id)
    return found


def colliding_vpcs() -> tuple[str, str]:
    """Two VPC IDs whose sequences start at the same VNI (24 bits: a few thousand IDs find a pair)."""
    seen: dict[int, str] = {}
    for n in itertools.count():
        vpc = f"vpc-{n:017x}"
        first = next(vni_sequence(vpc))
        if first in seen:
            return seen[first], vpc
        seen[first] = vpc
    raise AssertionError("unreachable")


PER_VPC = settings(vni_policy="per-vpc")


# -- per-vpc -----------------------------------------------------------------------------------------------------
def test_per_vpc_gives_three_vpcs_three_distinct_vnis_that_stay_across_runs() -> None:
    # Given two instances in each of 3 VPCs and no session yet
    fleet = [source(f"i-{vpc}-{n}", vpc) for vpc in ("vpc-a", "vpc-b", "vpc-c") for n in (1, 2)]
    # When two runs plan (the second sees what the first created, and a new instance in vpc-b)
    first = plan(fleet, config=PER_VPC)
    sessions = apply(first, [])
    newcomer = source("i-vpc-b-3", "vpc-b")
    second = plan([*fleet, newcomer], sessions, PER_VPC)
    sessions = apply(second, sessions)
    # Then each VPC has one VNI for all its sessions, the three differ, each is the first of its VPC's sequence,
    # and the second run changed nothing but created the newcomer's session with its VPC's VNI
    by_vpc = vnis_by_vpc(sessions, [*fleet, newcomer])
    assert all(len(vnis) == 1 for vnis in by_vpc.values()), by_vpc
    vnis = {vpc: next(iter(v)) for vpc, v in by_vpc.items()}
    assert len(set(vnis.values())) == 3
    assert vnis == {vpc: next(vni_sequence(vpc)) for vpc in ("vpc-a", "vpc-b", "vpc-c")}
    assert all(v is not None and 1 <= v <= VNI_MAX for v in vnis.values())
    assert second.updates == [] and [c.instance_id for c in second.creates] == ["i-vpc-b-3"]
    assert {c.virtual_network_id for c in first.creates} == set(vnis.values())


def test_vpcs_whose_sequences_collide_get_distinct_vnis_the_lower_vpc_id_first_and_keep_them() -> None:
    # Given two VPCs whose sequences start at the same VNI h, and a third
    low, high = colliding_vpcs()
    h = next(vni_sequence(low))
    fleet = [source("i-1", high), source("i-2", low), source("i-3", "vpc-c")]
    # When the first run places all three, and a second run sees the sessions
    first = plan(fleet, config=PER_VPC)
    sessions = apply(first, [])
    second = plan(fleet, sessions, PER_VPC)
    # Then the lower VPC ID gets h, the other the next value of its sequence, and nothing moves afterwards
    assert {c.instance_id: c.virtual_network_id for c in first.creates} == {
        "i-2": h,
        "i-1": list(itertools.islice(vni_sequence(high), 2))[1],
        "i-3": next(vni_sequence("vpc-c")),
    }
    assert second.updates == [] and second.creates == []
    # And once the lower VPC's sessions are gone, the other keeps its VNI: stable, not back to h
    remaining = [s for s in sessions if s.eni_id != "eni-i-2"]
    third = plan([source("i-1", high)], remaining, PER_VPC)
    assert third.updates == []


def test_a_vni_a_session_not_of_ours_carries_is_not_taken() -> None:
    h, after = itertools.islice(vni_sequence("vpc-a"), 2)
    foreign = MirrorSession("tms-x", "eni-other", "tmt-1", "tmf-1", 1, {"team": "net"}, ACCOUNT, None, h)
    result = plan([source("i-1", "vpc-a")], [foreign], PER_VPC)
    assert [c.virtual_network_id for c in result.creates] == [after]


def test_a_vni_two_vpcs_keep_stays_with_the_one_with_more_sessions_and_the_other_rolls_over_by_modify() -> None:
    low, high = colliding_vpcs()
    h = next(vni_sequence(low))
    # Given (after a race) both VPCs' sessions on h: two in the higher VPC, one in the lower
    fleet = [source("i-1", low), source("i-2", high), source("i-3", high)]
    sessions = [ours(f"eni-{i.instance_id}", f"tms-{i.instance_id}", vni=h) for i in fleet]
    result = plan(fleet, sessions, PER_VPC)
    # Then the VPC with more sessions keeps h; the other's session is modified to its next free value
    assert [(u.instance_id, u.virtual_network_id, u.reason) for u in result.updates] == [
        ("i-1", list(itertools.islice(vni_sequence(low), 2))[1], Reason.OPTIONS_CHANGED)
    ]
    assert result.deletes == [] and result.creates == []


def test_switching_to_per_vpc_rolls_sessions_with_vnis_aws_picked_over_to_their_vpcs_vni() -> None:
    fleet = [source("i-1", "vpc-a"), source("i-2", "vpc-a")]
    sessions = [ours("eni-i-1", "tms-1", vni=9_100_001), ours("eni-i-2", "tms-2", vni=9_100_002)]
    result = plan(fleet, sessions, PER_VPC)
    h = next(vni_sequence("vpc-a"))
    assert sorted((u.session.session_id, u.virtual_network_id, u.reason) for u in result.updates) == [
        ("tms-1", h, Reason.OPTIONS_CHANGED),
        ("tms-2", h, Reason.OPTIONS_CHANGED),
    ]
    assert result.deletes == [] and result.creates == []


def test_a_vpc_keeps_a_vni_of_its_sequence_its_sessions_carry() -> None:
    # An event for one instance sees only its sessions: it keeps what they carry within the first 16 values
    kept = list(itertools.islice(vni_sequence("vpc-a"), KEEP_WINDOW))[3]
    result = plan([source("i-1", "vpc-a")], [ours("eni-i-1", "tms-1", vni=kept)], PER_VPC)
    assert result.updates == []
    with_new = plan([source("i-1", "vpc-a"), source("i-2", "vpc-a")], [ours("eni-i-1", "tms-1", vni=kept)], PER_VPC)
    assert [c.virtual_network_id for c in with_new.creates] == [kept]


def test_a_sequence_wraps_at_the_top_of_the_24_bits_and_never_gives_0() -> None:
    assert list(itertools.islice(vnis_from(VNI_MAX - 1), 4)) == [VNI_MAX - 1, VNI_MAX, 1, 2]
    assert all(1 <= next(vni_sequence(f"vpc-{n}")) <= VNI_MAX for n in range(1000))


# -- per-instance-tag --------------------------------------------------------------------------------------------
PER_TAG = settings(vni_policy="per-instance-tag")


def test_per_instance_tag_creates_with_the_tags_vni_and_rolls_over_when_it_changes() -> None:
    created = plan([source("i-1", "vpc-a", mirror_vni="0")], config=PER_TAG)
    assert [c.virtual_network_id for c in created.creates] == [0]
    changed = plan([source("i-1", "vpc-a", mirror_vni="4242")], apply(created, []), PER_TAG)
    assert [(u.virtual_network_id, u.reason) for u in changed.updates] == [(4242, Reason.OPTIONS_CHANGED)]


@pytest.mark.parametrize("tag", [None, "", "vni-7", "-1", "16777216", "1e3", "٣"])
def test_per_instance_tag_without_a_readable_vni_creates_nothing_and_needs_attention(tag: str | None) -> None:
    tags = {} if tag is None else {"mirror_vni": tag}
    existing = ours("eni-i-1", "tms-1", vni=5)
    result = plan([source("i-1", "vpc-a", **tags), source("i-2", "vpc-a", mirror_vni="9")], [existing], PER_TAG)
    assert result.subjects["i-1"].status == Reason.VNI_UNREADABLE
    assert needs_attention(Reason.VNI_UNREADABLE)
    assert [c.instance_id for c in result.creates] == ["i-2"]
    assert result.updates == [] and result.deletes == []  # its session stays as it is


# -- packet length -----------------------------------------------------------------------------------------------
def test_creates_carry_the_stacks_packet_length_or_an_approved_tag_value() -> None:
    config = settings(packet_length=256, approved_packet_lengths=frozenset({128, 8500}))
    result = plan([source("i-1", "vpc-a"), source("i-2", "vpc-a", mirror_packet_length="128")], config=config)
    assert {c.instance_id: c.packet_length for c in result.creates} == {"i-1": 256, "i-2": 128}
    assert {c.virtual_network_id for c in result.creates} == {None}  # VniPolicy aws: AWS picks


@pytest.mark.parametrize("value", ["64", "full", "", " 128x", "99999"])
def test_a_packet_length_tag_not_approved_leaves_the_sessions_and_needs_attention(value: str) -> None:
    config = settings(packet_length=256, approved_packet_lengths=frozenset({128}))
    existing = ours("eni-i-1", "tms-1", vni=5, length=None)  # not the stack's 256: would be rolled over
    result = plan([source("i-1", "vpc-a", mirror_packet_length=value), source("i-2", "vpc-a")], [existing], config)
    assert result.subjects["i-1"].status == Reason.PACKET_LENGTH_NOT_APPROVED
    assert needs_attention(Reason.PACKET_LENGTH_NOT_APPROVED)
    assert result.updates == [] and result.deletes == []
    assert [c.instance_id for c in result.creates] == ["i-2"]


def test_a_packet_length_change_is_an_update_of_the_same_session_both_ways() -> None:
    whole = ours("eni-i-1", "tms-1", vni=5)
    truncated = plan([source("i-1", "vpc-a")], [whole], settings(packet_length=128))
    [update] = truncated.updates
    assert (update.session.session_id, update.packet_length, update.remove_fields) == ("tms-1", 128, ())
    assert (update.target_ids, update.filter_id, update.virtual_network_id, update.reason) == (
        (),
        None,
        None,
        Reason.OPTIONS_CHANGED,
    )
    back = plan([source("i-1", "vpc-a")], apply(truncated, [whole]), settings())
    [update] = back.updates
    assert (update.packet_length, update.remove_fields) == (None, ("packet-length",))
    assert plan([source("i-1", "vpc-a")], apply(back, apply(truncated, [whole])), settings()).updates == []


def test_8500_on_an_nlb_target_is_the_whole_packet_but_not_on_another_target() -> None:
    session = ours("eni-i-1", "tms-1", vni=5, length=8500)
    assert plan([source("i-1", "vpc-a")], [session], targets=target("network-load-balancer")).updates == []
    [update] = plan([source("i-1", "vpc-a")], [session], targets=target("gateway-load-balancer-endpoint")).updates
    assert update.remove_fields == ("packet-length",)


def test_under_vni_policy_aws_a_sessions_vni_is_never_changed() -> None:
    assert plan([source("i-1", "vpc-a")], [ours("eni-i-1", "tms-1", vni=123)]).updates == []


def test_changed_options_ride_along_with_a_move() -> None:
    # Given a session on a target the stack no longer lists, and a new packet length
    moved = MirrorSession("tms-1", "eni-i-1", "tmt-old", "tmf-1", 1, OURS, ACCOUNT, None, 5)
    targets = {**target(), "tmt-old": MirrorTarget("tmt-old", "gateway-load-balancer-endpoint", None, owner_id=ACCOUNT)}
    result = plan([source("i-1", "vpc-a")], [moved], settings(packet_length=200), targets)
    [update] = result.updates
    assert (update.target_ids, update.packet_length, update.reason) == (("tmt-1",), 200, Reason.TARGET_RETIRED)


# -- settings ----------------------------------------------------------------------------------------------------
BASE_ENV = {"FILTER_ID": "tmf-1"}


def test_settings_read_the_session_options() -> None:
    loaded = load_settings(
        {**BASE_ENV, "PACKET_LENGTH": "128", "APPROVED_PACKET_LENGTHS": "64, 8500", "VNI_POLICY": "per-vpc"}
    )
    assert (loaded.packet_length, loaded.approved_packet_lengths, loaded.vni_policy) == (
        128,
        frozenset({64, 8500}),
        "per-vpc",
    )
    defaults = load_settings(BASE_ENV)
    assert (defaults.packet_length, defaults.approved_packet_lengths, defaults.vni_policy) == (None, frozenset(), "aws")
    assert load_settings({**BASE_ENV, "PACKET_LENGTH": ""}).packet_length is None


@pytest.mark.parametrize(
    "env",
    [
        {"PACKET_LENGTH": "63"},
        {"PACKET_LENGTH": "8501"},
        {"PACKET_LENGTH": "full"},
        {"APPROVED_PACKET_LENGTHS": "128,9000"},
        {"VNI_POLICY": "random"},
    ],
)
def test_settings_refuse_options_aws_or_the_stack_would_not_take(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(env))):
        load_settings({**BASE_ENV, **env})
