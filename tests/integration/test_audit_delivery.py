"""``mirror-audit --delivery`` end to end, over HTTP against moto's server with the strict layer (issue 23): each pool
target's delivery in JSON and text, exit code 1 for a flagged target, nothing but reads sent. The arithmetic against
recorded CloudWatch answers: tests/integration/test_delivery.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from simulation.account import SimulatedAccount
from simulation.strict_aws import StrictAws
from tests.integration.test_audit import MUTATING_PREFIXES, Server, remote, run_audit, server
from tests.integration.test_delivery import MB, NLB_SHARE, source
from traffic_mirroring.delivery import BYTES_IN, PACKETS_IN, delivery_window

__all__ = ["remote", "server"]  # the audit's fixtures: moto's server with the strict layer, an account on it


def test_mirror_audit_delivery_prints_each_target_exits_1_on_a_flagged_one_and_changes_nothing(
    server: Server, remote: SimulatedAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    filter_id = remote.mirror_filter()
    nlb = remote.nlb_target()
    instance = source(remote, nlb, filter_id)
    remote.tag(instance, **{"mirror-status": "mirrored"})
    window = delivery_window(datetime.now(UTC))
    for k in range(12):  # the server shares this process's backends: EC2's figures published into them
        at = window.start + timedelta(minutes=5 * k)
        StrictAws.publish_aws_metric("AWS/EC2", BYTES_IN, {"InstanceId": instance}, at, MB)
        StrictAws.publish_aws_metric("AWS/EC2", PACKETS_IN, {"InstanceId": instance}, at, 1000, unit="Count")
    assert run_audit(server, [nlb], filter_id, "--json") == 0  # no drift: without --delivery, nothing is flagged
    capsys.readouterr()
    server.requests.taken()

    code = run_audit(server, [nlb], filter_id, "--json", "--delivery")

    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["drift"] is False
    assert report["delivery"]["flagged"] == [nlb]
    [row] = report["delivery"]["targets"]
    assert row["verdict"] == "nothing-received"
    assert row["expected_bytes"] == pytest.approx(12 * (MB * NLB_SHARE + 54_000))
    assert report["delivery"]["metrics_requested"] == 5  # 4 of the source, 1 of the NLB
    taken = server.requests.taken()
    assert not [a for a in taken if a.startswith(MUTATING_PREFIXES)]
    assert taken.count("GetMetricData") == 1

    assert run_audit(server, [nlb], filter_id, "--delivery", "--width", "0") == 1
    text = capsys.readouterr().out
    assert any(nlb in line and "nothing-received !" in line for line in text.splitlines())
    assert "AWS/NetworkELB ProcessedBytes_UDP" in text
    assert 'Know that mirrored packets arrive"' in text


def test_delivery_flags_are_checked_and_need_one_account(
    server: Server, remote: SimulatedAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    filter_id = remote.mirror_filter()
    assert run_audit(server, ["tmt-0123456789abcdef0"], filter_id, "--delivery", "--delivery-min-ratio", "1.5") == 2
    assert "--delivery-min-ratio" in capsys.readouterr().err
    assert run_audit(server, ["tmt-0123456789abcdef0"], filter_id, "--delivery", "--accounts", "123456789012") == 2
    assert "--delivery audits one account" in capsys.readouterr().err
