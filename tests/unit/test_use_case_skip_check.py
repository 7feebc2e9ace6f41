"""The hourly check of mirrored packets dropped (``skip_check.check_mirror_skips``): the instances our sessions mirror,
read through ``ports.InventoryPort`` from the in-memory AWS (``fake_port``), judged on what CloudWatch answers
(``ports.SkipMetricsPort``, an in-memory answer here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from tests.builders import FILTER, OURS, SETTINGS
from tests.unit.fake_port import FakeAws, usual_account
from traffic_mirroring.errors import MetricsIncomplete
from traffic_mirroring.mirror_skips import MetricWindow, SkippedBytes
from traffic_mirroring.skip_check import check_mirror_skips

NOW = datetime(2026, 12, 1, 10, 7, tzinfo=UTC)
MIB = 1_048_576.0


class SkipAnswers:
    """CloudWatch's answer per instance (an instance without one: no complete answer)."""

    def __init__(self, answers: Mapping[str, SkippedBytes]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, ...]] = []

    def skipped_bytes(self, instance_ids: Sequence[str], window: MetricWindow) -> dict[str, SkippedBytes]:
        self.asked.append(tuple(instance_ids))
        return {i: self.answers[i] for i in instance_ids if i in self.answers}


def mirrored(fake: FakeAws, *instance_ids: str) -> None:
    """Our sessions, one per instance (two for the first: it is asked about once all the same)."""
    for n, instance_id in enumerate((instance_ids[0], *instance_ids)):
        tags = {**OURS, SETTINGS.instance_tag_key: instance_id}
        fake.existing_session(f"eni-{n}", "tmt-nlb", FILTER, 1, tags)


def test_the_instances_our_sessions_mirror_are_judged_and_those_dropping_are_named_and_counted() -> None:
    # Given our sessions on i-1, i-2 and i-3, and another team's session on i-9
    fake = usual_account()
    mirrored(fake, "i-1", "i-2", "i-3")
    fake.existing_session("eni-9", "tmt-nlb", FILTER, 1, {"team": "net", SETTINGS.instance_tag_key: "i-9"})
    # And CloudWatch saying i-2 dropped 3 MiB in one 5 minutes, i-1 nothing, and i-3 has no data
    metrics = SkipAnswers(
        {"i-1": SkippedBytes(inbound=(0.0,)), "i-2": SkippedBytes(outbound=(0.0, 3 * MIB)), "i-3": SkippedBytes()}
    )
    # When the check runs
    summary = check_mirror_skips(fake, metrics, SETTINGS, now=NOW)
    # Then it asked about our instances only, each once, and names the one dropping
    assert metrics.asked == [("i-1", "i-2", "i-3")]
    assert summary["instances_mirrored"] == 3 and summary["instances_judged"] == 3
    assert summary["instances_skipping"] == 1 and summary["skipping"] == {"i-2": {"in": 0.0, "out": 3 * MIB}}
    assert summary["instances_without_data"] == 1


def test_no_session_of_ours_asks_cloudwatch_nothing() -> None:
    metrics = SkipAnswers({})
    summary = check_mirror_skips(usual_account(), metrics, SETTINGS, now=NOW)
    assert metrics.asked == [] and summary["instances_mirrored"] == 0


def test_an_instance_cloudwatch_did_not_answer_for_fails_the_check_after_judging_the_others() -> None:
    fake = usual_account()
    mirrored(fake, "i-1", "i-2")
    metrics = SkipAnswers({"i-1": SkippedBytes(inbound=(5 * MIB,))})
    with pytest.raises(MetricsIncomplete) as failure:
        check_mirror_skips(fake, metrics, SETTINGS, now=NOW)
    assert failure.value.instance_ids == ["i-2"]
