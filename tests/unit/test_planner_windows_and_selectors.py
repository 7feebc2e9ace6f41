"""Mirroring that expires (mirror-until) and selectors beyond the mirror tag (MirrorSelectors): the planner's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import builders
from tests.builders import SUPPORTED, nlb, settings
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.model import (
    ATTENTION_STATUSES,
    DeleteSession,
    Instance,
    MirrorSession,
    Plan,
    Reason,
)
from traffic_mirroring.planner import parse_until, selected
from traffic_mirroring.reconcile import refuses_deletes

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SETTINGS = settings("tmt-a")
TARGETS = {"tmt-a": nlb("tmt-a")}


def instance(tags: dict[str, str], iid: str = "i-1", vpc: str = "vpc-1", subnet: str = "subnet-1") -> Instance:
    return builders.instance(iid, "running", tags, (f"eni-{iid}",), vpc=vpc, subnet=subnet)


def ours(iid: str = "i-1") -> MirrorSession:
    return builders.session(f"tms-{iid}", f"eni-{iid}", instance_id=None)


def plan(*instances: Instance, settings: Settings = SETTINGS, sessions: tuple[MirrorSession, ...] = ()) -> Plan:
    return builders.plan(
        *instances, settings=settings, sessions=sessions, targets=TARGETS, verdicts=SUPPORTED, read_at=NOW
    )


# -- mirror-until -----------------------------------------------------------------------------------------------
def test_before_its_time_an_instance_is_mirrored_and_the_time_left_is_reported() -> None:
    result = plan(instance({"mirror": "true", "mirror-until": "2026-12-02T18:30:00Z"}))
    assert len(result.creates) == 1
    assert result.subjects["i-1"].status == Reason.MIRRORED
    assert result.windows == {"i-1": "2026-12-02T18:30:00Z (6h 30m left)"}


def test_from_its_time_on_the_sessions_go_and_the_status_says_expired() -> None:
    for until in ("2026-12-02T12:00:00Z", "2026-12-01T18:00:00+00:00", "2026-12-02T13:00:00+02:00"):
        result = plan(instance({"mirror": "true", "mirror-until": until}), sessions=(ours(),))
        assert [(d.session.session_id, d.reason) for d in result.deletes] == [("tms-i-1", Reason.EXPIRED)], until
        assert result.creates == []
        assert result.subjects["i-1"].status == Reason.EXPIRED


def test_an_unreadable_time_is_not_mirrored_and_the_status_says_why() -> None:
    for until in ("tomorrow", "2026-12-02", "2026-12-02T18:00:00", "", "2026-13-02T18:00:00Z"):
        result = plan(instance({"mirror": "true", "mirror-until": until}), sessions=(ours(),))
        assert [d.reason for d in result.deletes] == [Reason.UNTIL_UNREADABLE], until
        assert result.subjects["i-1"].status == Reason.UNTIL_UNREADABLE
    assert Reason.UNTIL_UNREADABLE in ATTENTION_STATUSES
    assert Reason.EXPIRED not in ATTENTION_STATUSES


def test_times_are_read_with_their_zone_and_compared_in_utc() -> None:
    assert parse_until("2026-12-02T18:00:00Z") == datetime(2026, 12, 2, 18, tzinfo=UTC)
    assert parse_until("2026-12-02T20:00:00+02:00") == datetime(2026, 12, 2, 18, tzinfo=UTC)
    assert parse_until("2026-12-02T18:00Z") == datetime(2026, 12, 2, 18, tzinfo=UTC)
    assert parse_until("2026-12-02T18:00:00") is None  # no zone: a local time would be a guess


def test_expiries_do_not_count_toward_the_safety_valve() -> None:
    expired = [
        DeleteSession(f"i-{n}", MirrorSession(f"tms-{n}", f"eni-{n}", "tmt-a", "tmf-1", 1), Reason.EXPIRED)
        for n in range(100)
    ]
    result = Plan(managed_sessions=100)
    result.for_subject("i-0").deletes.extend(expired)
    settings = Settings(target_ids=(), filter_id="tmf-1", max_delete_percent=50)
    assert not refuses_deletes(result, settings)
    result.for_subject("i-0").deletes[:60] = [
        DeleteSession(d.subject, d.session, Reason.TAG_REMOVED) for d in expired[:60]
    ]
    assert refuses_deletes(result, settings)


# -- selectors --------------------------------------------------------------------------------------------------
SELECTING = load_settings(
    {
        "FILTER_ID": "tmf-1",
        "TARGET_IDS": "tmt-a",
        "MANAGED_BY": "stack",
        "MIRROR_SELECTORS": "eks:cluster-name=prod, team=sec*,vpc-9,subnet-7",
    }
)


def test_an_instance_matching_a_tag_selector_is_mirrored_without_the_mirror_tag() -> None:
    assert selected(instance({"eks:cluster-name": "prod"}), SELECTING)
    assert not selected(instance({"eks:cluster-name": "prod-2"}), SELECTING)
    assert selected(instance({"team": "security"}), SELECTING)
    assert not selected(instance({"team": "sales"}), SELECTING)
    assert not selected(instance({}), SELECTING)
    assert len(plan(instance({"eks:cluster-name": "prod"}), settings=SELECTING).creates) == 1


def test_vpc_and_subnet_selectors_select_every_instance_in_them() -> None:
    assert selected(instance({}, vpc="vpc-9"), SELECTING)
    assert selected(instance({}, subnet="subnet-7"), SELECTING)
    assert not selected(instance({}, vpc="vpc-8", subnet="subnet-8"), SELECTING)


def test_the_mirror_tag_with_another_value_opts_out_and_always_wins() -> None:
    for opt_out in ("false", "no", ""):
        out = instance({"eks:cluster-name": "prod", "mirror": opt_out}, vpc="vpc-9")
        assert not selected(out, SELECTING)
    result = plan(instance({"eks:cluster-name": "prod", "mirror": "false"}), settings=SELECTING, sessions=(ours(),))
    assert [d.session.session_id for d in result.deletes] == ["tms-i-1"]
    assert selected(instance({"mirror": "TRUE"}), SELECTING)


def test_a_bad_selector_is_a_clear_error() -> None:
    for bad in ("prod", "=prod", "key=", "key=a*b", "vpc 1"):
        with pytest.raises(ConfigurationError, match="MIRROR_SELECTORS"):
            load_settings({"FILTER_ID": "tmf-1", "MIRROR_SELECTORS": bad})


def test_an_expired_selected_instance_is_not_mirrored_either() -> None:
    past = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = plan(instance({"eks:cluster-name": "prod", "mirror-until": past}), settings=SELECTING, sessions=(ours(),))
    assert [d.reason for d in result.deletes] == [Reason.EXPIRED]
