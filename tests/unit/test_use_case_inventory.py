"""The inventory reads what the planner needs through ``ports.InventoryPort``, and only that: here against the in-memory
AWS (``fake_port``), which logs every read."""

from __future__ import annotations

from dataclasses import replace

from tests.builders import FILTER, OURS, SETTINGS, instance
from tests.unit.fake_port import DESCRIBE, DESCRIBE_ENIS, DESCRIBE_FILTERS, DESCRIBE_TARGETS, FakeAws, usual_account
from traffic_mirroring.config import SELECTOR_VPC, Selector
from traffic_mirroring.eligibility import Verdict
from traffic_mirroring.inventory import read_account_inventory, read_instance_inventory

STATUS = SETTINGS.status_tag_key


def ours(fake: FakeAws, instance_id: str, eni_id: str, target_id: str = "tmt-a", number: int = 1) -> str:
    """A session an earlier run made for the instance; its ID."""
    tags = {**OURS, SETTINGS.instance_tag_key: instance_id}
    description = SETTINGS.session_description(instance_id)
    return fake.existing_session(eni_id, target_id, FILTER, number, tags, description=description).session_id


def theirs(fake: FakeAws, eni_id: str, target_id: str = "tmt-a", number: int = 1, filter_id: str = FILTER) -> str:
    """Another team's session; its ID."""
    fake.filter(filter_id)
    return fake.existing_session(eni_id, target_id, filter_id, number, {"team": "net"}).session_id


def described(fake: FakeAws) -> list[dict[str, object]]:
    """What each DescribeTrafficMirrorSessions asked for."""
    return [call.params for call in fake.calls if call.operation == DESCRIBE]


# -- one instance (the event path) -------------------------------------------------------------------------------
def test_a_tagged_instance_to_place_is_read_with_its_sessions_and_the_usage_of_its_candidate_targets() -> None:
    # Given i-1 to be mirrored, another team's session on its ENI, and other sources on both pool targets
    fake = usual_account(instance())
    on_eni = theirs(fake, "eni-1", "tmt-b", number=5)
    on_a = theirs(fake, "eni-other-a", "tmt-a")
    theirs(fake, "eni-other-nlb", "tmt-nlb")
    # When its inventory is read
    inventory = read_instance_inventory(fake, SETTINGS, "i-1")
    # Then it holds the instance as AWS shows it, every session on its ENI, and the sessions on the ENI target with
    # a source limit (its usage must be fresh); the NLB's sources come as counts
    assert list(inventory.instances) == ["i-1"] and inventory.eni_attachments == {"eni-1": "i-1"}
    assert {s.session_id for s in inventory.sessions} == {on_eni, on_a}
    assert inventory.targets is not None and set(inventory.targets) == {"tmt-a", "tmt-b", "tmt-nlb"}
    assert inventory.target_sources == {"tmt-nlb": frozenset({"eni-other-nlb"})}
    assert inventory.type_verdicts == {"m5.large": Verdict.SUPPORTED}
    assert described(fake) == [{"eni_ids": ["eni-1"]}, {"target_ids": ["tmt-a"]}, {"target_ids": ["tmt-nlb"]}]
    assert inventory.filters is None  # no session of another filter ahead of ours: no filter read


def test_an_instance_already_mirrored_reads_no_target_usage() -> None:
    fake = usual_account(instance(tags={"mirror": "true", STATUS: "mirrored"}))
    ours(fake, "i-1", "eni-1")
    inventory = read_instance_inventory(fake, SETTINGS, "i-1")
    assert inventory.targets is None  # nothing to place: the plan must not move anything either
    assert described(fake) == [{"eni_ids": ["eni-1"]}]


def test_a_stopped_instance_s_sessions_are_ours_found_by_description_wherever_its_enis_went() -> None:
    # Given a stopped instance, our session on its ENI and a session another stack described the same way
    fake = usual_account(instance(state="stopped"))
    mine = ours(fake, "i-1", "eni-1")
    fake.existing_session(
        "eni-1",
        "tmt-a",
        FILTER,
        2,
        {"mirror-managed-by": "other-stack"},
        description=SETTINGS.session_description("i-1"),
    )
    # When its inventory is read
    inventory = read_instance_inventory(fake, SETTINGS, "i-1")
    # Then only our session of this instance is in it, read by its description; no target is read
    assert [s.session_id for s in inventory.sessions] == [mine]
    assert described(fake) == [{"descriptions": [SETTINGS.session_description("i-1")]}]
    assert DESCRIBE_TARGETS not in fake.operations() and inventory.targets is None


def test_an_instance_that_is_gone_is_missing_and_a_deleted_eni_of_its_session_is_named() -> None:
    # Given our session of i-9, which no longer exists, on an ENI deleted since
    fake = usual_account()
    ours(fake, "i-9", "eni-9")
    del fake.enis["eni-9"]
    # When i-9's inventory is read
    inventory = read_instance_inventory(fake, SETTINGS, "i-9")
    # Then i-9 is missing and its session's ENI is known to be deleted (DescribeNetworkInterfaces did not show it)
    assert inventory.missing_instance_ids == frozenset({"i-9"}) and inventory.instances == {}
    assert inventory.deleted_eni_ids == frozenset({"eni-9"})
    assert fake.count(DESCRIBE_ENIS) == 1


def test_another_team_s_session_ahead_of_ours_with_another_filter_has_its_filter_read() -> None:
    fake = usual_account(instance())
    theirs(fake, "eni-1", "tmt-b", number=1, filter_id="tmf-net")
    inventory = read_instance_inventory(fake, SETTINGS, "i-1")
    assert inventory.filters is not None and set(inventory.filters) == {"tmf-net", FILTER}
    assert [call.params for call in fake.calls if call.operation == DESCRIBE_FILTERS] == [
        {"filter_ids": [FILTER, "tmf-net"]}
    ]


def test_the_verdict_on_an_unlisted_type_is_the_one_the_port_learned_from_aws() -> None:
    fake = usual_account(instance(itype="x9.future"))
    assert read_instance_inventory(fake, SETTINGS, "i-1").type_verdicts == {"x9.future": Verdict.ASK_AWS}
    fake.verdicts.learn("x9.future", supported=True)
    assert read_instance_inventory(fake, SETTINGS, "i-1").type_verdicts == {"x9.future": Verdict.SUPPORTED}


# -- the account (the schedule) ----------------------------------------------------------------------------------
def test_the_account_inventory_reads_every_instance_that_is_or_was_selected_and_every_session() -> None:
    # Given a tagged instance, one that only carries our status tag, one in a selected VPC, one not selected at all,
    # and one whose tags were all removed while our session stayed on its ENI
    tagged = instance()
    was_mirrored = instance("i-2", tags={STATUS: "mirrored"}, enis=("eni-2",))
    in_vpc = instance("i-3", tags={}, enis=("eni-3",), vpc="vpc-selected")
    unselected = instance("i-4", tags={"team": "web"}, enis=("eni-4",), vpc="vpc-other")
    untagged_with_session = instance("i-5", tags={}, enis=("eni-5",))
    fake = usual_account(tagged, was_mirrored, in_vpc, unselected, untagged_with_session)
    mine = ours(fake, "i-5", "eni-5")
    other = theirs(fake, "eni-4")
    settings = replace(SETTINGS, selectors=(Selector(SELECTOR_VPC, "vpc-selected"),))
    # When the account's inventory is read
    inventory = read_account_inventory(fake, settings)
    # Then every instance that is or was selected is in it, and the owner of our session, read by its ID
    assert set(inventory.instances) == {"i-1", "i-2", "i-3", "i-5"}
    assert inventory.eni_attachments["eni-5"] == "i-5" and "eni-4" not in inventory.eni_attachments
    # And every session, every filter (which exist), and the targets, read fresh
    assert {s.session_id for s in inventory.sessions} == {mine, other}
    assert inventory.existing_filter_ids == frozenset({FILTER})
    assert inventory.targets is not None and set(inventory.targets) == {"tmt-a", "tmt-b", "tmt-nlb"}
    assert [c.params for c in fake.calls if c.operation == DESCRIBE_TARGETS] == [{"fresh": True}]
    assert inventory.missing_instance_ids == frozenset()


def test_the_account_inventory_names_the_enis_of_our_sessions_that_are_gone() -> None:
    fake = usual_account(instance())
    ours(fake, "i-9", "eni-9")
    del fake.enis["eni-9"]
    inventory = read_account_inventory(fake, SETTINGS)
    assert inventory.deleted_eni_ids == frozenset({"eni-9"})
    assert "eni-9" not in inventory.eni_attachments
