"""Incident windows from GuardDuty findings: which findings count, and what window each gives its instance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests import builders
from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.events import GuardDutyFinding
from traffic_mirroring.incident import (
    MIN_SEVERITY_VARIABLE,
    MIRROR_HOURS_VARIABLE,
    IncidentSettings,
    WindowVerdict,
    ignore_reason,
    load_incident_settings,
    plan_window,
)
from traffic_mirroring.model import Instance

NOW = datetime(2026, 12, 2, 12, 0, 30, 123456, tzinfo=UTC)
SETTINGS = Settings(target_ids=("tmt-a",), filter_id="tmf-1", account_id="123456789012")
INCIDENT = IncidentSettings(min_severity=7.0, mirror_hours=24.0)
FINDING = GuardDutyFinding(
    finding_id="16afba5c5c43e07c9e3e5e2e544e95df",
    finding_type="Backdoor:EC2/C&CActivity.B!DNS",
    severity=8.0,
    account_id="123456789012",
    resource_type="Instance",
    instance_ids=("i-0123456789abcdef0",),
    sample=False,
    event_id="e-1",
    region="us-east-1",
)
LABEL = "Backdoor:EC2/C&CActivity.B!DNS 16afba5c5c43e07c9e3e5e2e544e95df"
IN_24H = "2026-12-03T12:00:30Z"
FINDING_UNTIL, FINDING_TAG = SETTINGS.finding_until_tag_key, SETTINGS.finding_tag_key


def instance(**tags: str) -> Instance:
    return builders.instance("i-0123456789abcdef0", tags=tags, zone="us-east-1a", vpc="vpc-1")


# -- which findings count ---------------------------------------------------------------------------------------
def test_a_finding_on_an_instance_of_this_account_at_the_threshold_counts() -> None:
    assert ignore_reason(FINDING, SETTINGS, INCIDENT) is None
    assert ignore_reason(replace(FINDING, severity=7.0), SETTINGS, INCIDENT) is None


@pytest.mark.parametrize(
    ("finding", "reason"),
    [
        (replace(FINDING, sample=True), "sample finding"),
        (replace(FINDING, account_id="210987654321"), "finding of another account (210987654321)"),
        (replace(FINDING, resource_type="AccessKey", instance_ids=()), "resource of type AccessKey"),
        (replace(FINDING, instance_ids=()), "names no instance ID"),
        (replace(FINDING, archived=True), "archived finding"),
        (
            replace(FINDING, finding_type="AttackSequence:S3/CompromisedData", resource_type="", instance_ids=()),
            "attack sequence naming no EC2 instance",
        ),
        (replace(FINDING, severity=6.9), "severity 6.9 is below GuardDutyMinSeverity 7"),
        (replace(FINDING, severity=2), "severity 2 is below"),
    ],
)
def test_other_findings_are_ignored_with_their_reason(finding: GuardDutyFinding, reason: str) -> None:
    assert reason in (ignore_reason(finding, SETTINGS, INCIDENT) or "")


def test_a_sample_finding_is_ignored_whatever_else_it_says() -> None:
    sample = replace(FINDING, sample=True, account_id="210987654321", severity=1)
    assert "sample" in (ignore_reason(sample, SETTINGS, INCIDENT) or "")


# -- the window: the finding's own tags, never the owner's --------------------------------------------------------
def test_an_untagged_instance_opens_a_window_with_the_finding_s_tags_in_one_write() -> None:
    window = plan_window(instance(Name="web-1"), FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.OPENED
    assert window.until == datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)
    assert window.tags == {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}  # never the mirror tag nor mirror-until
    assert window.overridden_opt_out is None


def test_the_window_lasts_the_configured_hours() -> None:
    window = plan_window(instance(), FINDING, SETTINGS, replace(INCIDENT, mirror_hours=1.5), NOW)
    assert window.tags[FINDING_UNTIL] == "2026-12-02T13:30:30Z"


def test_an_earlier_finding_s_window_ending_sooner_is_extended() -> None:
    tagged = instance(**{FINDING_UNTIL: "2026-12-02T18:00:00Z", FINDING_TAG: LABEL})

    window = plan_window(tagged, FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.EXTENDED
    assert window.tags == {FINDING_UNTIL: IN_24H}  # the label is already right


def test_an_earlier_finding_s_window_ending_later_is_never_shortened() -> None:
    later = "2026-12-10T00:00:00Z"

    window = plan_window(instance(**{FINDING_UNTIL: later}), FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.KEPT
    assert window.until == datetime(2026, 12, 10, tzinfo=UTC)
    assert window.tags == {FINDING_TAG: LABEL}


def test_an_owner_s_own_window_is_left_alone_and_a_later_one_is_kept() -> None:
    # Given an instance its owner mirrors until 10 December (an own window, docs/incident-response.md)
    owned = {"mirror": "true", "mirror-until": "2026-12-10T00:00:00Z"}

    window = plan_window(instance(**owned), FINDING, SETTINGS, INCIDENT, NOW)

    # Then the owner's tags are not written; the finding records its own 24 hours, and the later end stays
    assert window.verdict == WindowVerdict.KEPT
    assert window.until == datetime(2026, 12, 10, tzinfo=UTC)
    assert window.tags == {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}


def test_an_owner_s_own_window_ending_sooner_is_extended_by_the_finding_s() -> None:
    owned = {"mirror": "true", "mirror-until": "2026-12-02T18:00:00Z"}

    window = plan_window(instance(**owned), FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.EXTENDED
    assert window.until == datetime(2026, 12, 3, 12, 0, 30, tzinfo=UTC)
    assert window.tags == {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}


@pytest.mark.parametrize("tags", [{"mirror": "true"}, {"mirror": "TRUE"}, {"eks:cluster-name": "prod"}])
def test_an_instance_mirrored_by_its_owner_without_end_keeps_no_end(tags: dict[str, str]) -> None:
    settings = replace(
        SETTINGS, selectors=load_settings({"FILTER_ID": "f", "MIRROR_SELECTORS": "eks:cluster-name=prod"}).selectors
    )

    window = plan_window(instance(**tags), FINDING, settings, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.WITHOUT_END
    assert window.until is None
    # The finding is recorded with its window (removed when it ends); no mirror-until is added to the owner's tags
    assert window.tags == {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}


def test_a_finding_mirrors_over_an_opt_out_without_rewriting_it_and_says_so() -> None:
    window = plan_window(instance(mirror="false", **{"eks:cluster-name": "prod"}), FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.OPENED
    assert "mirror" not in window.tags
    assert window.overridden_opt_out == "false"


@pytest.mark.parametrize("until", ["2026-12-01T00:00:00Z", "2026-12-02T12:00:30Z", "tomorrow", "2026-12-05T10:00:00"])
def test_an_ended_or_unreadable_window_is_replaced(until: str) -> None:
    window = plan_window(instance(**{FINDING_UNTIL: until}), FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.OPENED
    assert window.tags[FINDING_UNTIL] == IN_24H


def test_an_owner_s_ended_window_is_left_as_it_is() -> None:
    owned = {"mirror": "true", "mirror-until": "2026-12-01T00:00:00Z"}

    window = plan_window(instance(**owned), FINDING, SETTINGS, INCIDENT, NOW)

    assert window.verdict == WindowVerdict.OPENED
    assert window.tags == {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}


def test_the_same_finding_again_writes_only_the_later_end() -> None:
    first = plan_window(instance(), FINDING, SETTINGS, INCIDENT, NOW)
    tagged = instance(**first.tags)

    again = plan_window(tagged, FINDING, SETTINGS, INCIDENT, NOW + timedelta(hours=6))

    assert again.verdict == WindowVerdict.EXTENDED
    assert again.tags == {FINDING_UNTIL: "2026-12-03T18:00:30Z"}
    assert plan_window(tagged, FINDING, SETTINGS, INCIDENT, NOW).tags == {}  # a re-delivery at once: nothing to write


def test_the_finding_tag_fits_a_tag_value() -> None:
    long = replace(FINDING, finding_type="T" * 300)
    assert len(plan_window(instance(), long, SETTINGS, INCIDENT, NOW).tags[FINDING_TAG]) == 256


def test_the_window_never_writes_the_configured_mirror_tag() -> None:
    settings = replace(SETTINGS, mirror_tag_key="monitor", mirror_tag_value="yes")
    window = plan_window(instance(monitor="no"), FINDING, settings, INCIDENT, NOW)
    assert window.tags == {FINDING_UNTIL: IN_24H, FINDING_TAG: LABEL}
    assert window.overridden_opt_out == "no"


# -- settings ---------------------------------------------------------------------------------------------------
def test_settings_need_a_threshold_and_default_to_a_day() -> None:
    assert load_incident_settings({MIN_SEVERITY_VARIABLE: "7"}) == IncidentSettings(7.0, 24.0)
    assert load_incident_settings({MIN_SEVERITY_VARIABLE: "4.5", MIRROR_HOURS_VARIABLE: "720"}).mirror_hours == 720
    with pytest.raises(ConfigurationError, match=f"{MIN_SEVERITY_VARIABLE} is required"):
        load_incident_settings({})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({MIN_SEVERITY_VARIABLE: "high"}, "is not a number"),
        ({MIN_SEVERITY_VARIABLE: "0.5"}, "between 1 and 10"),
        ({MIN_SEVERITY_VARIABLE: "11"}, "between 1 and 10"),
        ({MIN_SEVERITY_VARIABLE: "7", MIRROR_HOURS_VARIABLE: "0"}, "between 1 and 720"),
        ({MIN_SEVERITY_VARIABLE: "7", MIRROR_HOURS_VARIABLE: "a day"}, "is not a number"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_incident_settings(env)
