"""Session options through the executor, against the in-memory AWS (tests/unit/fake_port.py): creates carry
PacketLength and the VNI (published on the session's mirror-vni tag), option changes are modifies of the same
session, and a create replayed with other options makes no second session."""

from __future__ import annotations

from dataclasses import replace

from tests import builders
from tests.builders import SUPPORTED, endpoint, instance, settings
from tests.unit.fake_port import CREATE, MODIFY, FakeAws
from traffic_mirroring.client_token import client_token
from traffic_mirroring.config import Settings
from traffic_mirroring.executor import Executor
from traffic_mirroring.model import (
    CreateSession,
    Plan,
    Reason,
    SubjectPlan,
    UpdateSession,
)
from traffic_mirroring.planner import plan_mirroring

SETTINGS = settings("tmt-a")
ENDPOINT = {"tmt-a": endpoint("tmt-a")}
OURS = {"mirror-managed-by": "stack", "mirror-instance-id": "i-1"}


def world() -> FakeAws:
    return FakeAws().target("tmt-a").filter("tmf-1").eni("eni-1", "eni-2")


def create(packet_length: int | None = None, vni: int | None = None, eni: str = "eni-1") -> CreateSession:
    return CreateSession("i-1", eni, 1, "tmf-1", ("tmt-a",), packet_length=packet_length, virtual_network_id=vni)


def subject(**parts: list[object]) -> Plan:
    plan = SubjectPlan("i-1", status=Reason.MIRRORED, is_instance=True, instance_type="m5.large", **parts)  # type: ignore[arg-type]
    return Plan(subjects={"i-1": plan})


def test_a_create_carries_the_options_and_publishes_its_vni_on_the_session() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(subject(creates=[create(packet_length=128, vni=4242)]))
    [session] = fake.sessions.values()
    assert (session.packet_length, session.virtual_network_id) == (128, 4242)
    assert session.tags == {**OURS, "mirror-vni": "4242"}
    assert [(s.packet_length, s.virtual_network_id) for s in outcome.created] == [(128, 4242)]


def test_a_create_without_a_vni_gets_the_one_aws_picks_and_no_vni_tag() -> None:
    fake = world()
    outcome = Executor(fake, SETTINGS).apply(subject(creates=[create()]))
    [call] = [c for c in fake.calls if c.operation == CREATE]
    assert (call.params["packet_length"], call.params["virtual_network_id"]) == (None, None)
    assert "mirror-vni" not in call.params["tags"]
    assert outcome.created[0].virtual_network_id == fake.first_aws_vni  # AWS's answer, for the report's VNI map


def test_options_change_by_modifying_the_same_session() -> None:
    # Given a session mirroring whole packets under VNI 5
    fake = world()
    kept = fake.existing_session("eni-1", "tmt-a", "tmf-1", 1, OURS, virtual_network_id=5)
    # When its packet length and VNI are rolled over
    update = UpdateSession("i-1", kept, (), None, Reason.OPTIONS_CHANGED, packet_length=96, virtual_network_id=77)
    outcome = Executor(fake, SETTINGS).apply(subject(updates=[update]))
    # Then one modify changed both, the session is the same (no delete, no create: no gap)
    assert fake.operations()[0] == MODIFY
    assert fake.calls[0].params == {
        "session_id": kept.session_id,
        "target_id": None,
        "filter_id": None,
        "packet_length": 96,
        "virtual_network_id": 77,
    }
    assert list(fake.sessions) == [kept.session_id]
    assert (fake.sessions[kept.session_id].packet_length, fake.sessions[kept.session_id].virtual_network_id) == (
        96,
        77,
    )
    assert (outcome.updated, outcome.options_changed) == (1, 1)


def test_removing_the_packet_length_goes_back_to_the_whole_packet() -> None:
    fake = world()
    kept = fake.existing_session("eni-1", "tmt-a", "tmf-1", 1, OURS, packet_length=96)
    update = UpdateSession("i-1", kept, (), None, Reason.OPTIONS_CHANGED, remove_fields=("packet-length",))
    Executor(fake, SETTINGS).apply(subject(updates=[update]))
    assert fake.calls[0].params["remove_fields"] == ["packet-length"]
    assert fake.sessions[kept.session_id].packet_length is None


def test_a_move_is_not_counted_as_an_options_change() -> None:
    fake = world().target("tmt-b")
    kept = fake.existing_session("eni-1", "tmt-a", "tmf-1", 1, OURS)
    outcome = Executor(fake, SETTINGS).apply(
        subject(updates=[UpdateSession("i-1", kept, ("tmt-b",), None, Reason.TARGET_RETIRED)])
    )
    assert (outcome.updated, outcome.options_changed) == (1, 0)


def test_options_are_not_part_of_the_token() -> None:
    fake = world()
    c = create(packet_length=128, vni=4242)
    Executor(fake, SETTINGS).apply(subject(creates=[c]))
    [call] = [c for c in fake.calls if c.operation == CREATE]
    assert call.params["token"] == client_token("stack", "eni-1", "i-1", "", 1, 0)


def test_a_create_replayed_with_other_options_makes_no_second_session_and_the_next_run_rolls_it_over() -> None:
    # Given an ENI whose session was created with whole packets (a describe may not show it yet)
    fake = world()
    Executor(fake, SETTINGS).apply(subject(creates=[create()]))
    # When, PacketLength changed meanwhile, the same create is replayed with 128 bytes (same token)
    outcome = Executor(fake, SETTINGS).apply(subject(creates=[create(packet_length=128)]))
    # Then AWS answers IdempotentParameterMismatch, read as "created elsewhere": one session, no error
    assert len(fake.on_eni("eni-1")) == 1
    assert outcome.created == [] and not outcome.problems
    # And the next run, which sees the session, rolls it over by modify
    inventory = builders.inventory(
        instance(), sessions=fake.sessions_on_enis(["eni-1"]), targets=ENDPOINT, verdicts=SUPPORTED
    )
    [session_id] = fake.sessions
    Executor(fake, SETTINGS).apply(plan_mirroring(inventory, replace(SETTINGS, packet_length=128)))
    assert list(fake.sessions) == [session_id]
    assert fake.sessions[session_id].packet_length == 128


def test_a_packet_length_change_rolls_every_session_over_by_modify_across_runs() -> None:
    # Given two mirrored instances, planned and applied under whole packets
    fake = world()
    instances = {iid: instance(iid, enis=(eni,)) for iid, eni in (("i-1", "eni-1"), ("i-2", "eni-2"))}

    def run(settings: Settings) -> None:
        sessions = fake.sessions_on_enis(["eni-1", "eni-2"])
        inventory = builders.inventory(*instances.values(), sessions=sessions, targets=ENDPOINT, verdicts=SUPPORTED)
        Executor(fake, settings).apply(plan_mirroring(inventory, settings))

    run(SETTINGS)
    before = sorted(fake.sessions)
    # When PacketLength is set and the next run comes
    run(replace(SETTINGS, packet_length=200))
    # Then the same sessions carry it, changed by modify only
    assert sorted(fake.sessions) == before
    assert {s.packet_length for s in fake.sessions.values()} == {200}
    assert fake.count(MODIFY) == 2 and fake.count(CREATE) == 2  # the 2 creates are the first run's
