"""mirror-audit shows each pool target's health (issue 15), the time left of mirroring windows (issue 14) and a
warning for jumbo-frame sources mirrored to a standalone ENI target (issue 15), in JSON and in text."""

from __future__ import annotations

import io

import pytest

from mirror_cli import flags, text
from mirror_cli.account import audit_account
from mirror_cli.settings import settings_from
from simulation.account import SimulatedAccount
from traffic_mirroring.config import load_settings

pytestmark = pytest.mark.usefixtures("strict")


def report_of(account: SimulatedAccount, targets: list[str], filter_id: str) -> dict[str, object]:
    settings = load_settings(
        {
            "TARGET_IDS": ",".join(targets),
            "FILTER_ID": filter_id,
            "MANAGED_BY": "audit-stack",
            "ACCOUNT_ID": "123456789012",
        }
    )
    return audit_account(settings, "123456789012", account.ec2, account.elbv2).report


def text_of(report: dict[str, object]) -> str:
    out = io.StringIO()
    text.print_report(report, out, width=0)
    return out.getvalue()


def test_the_audit_prints_each_targets_health_with_its_reason(account: SimulatedAccount) -> None:
    healthy = account.nlb_target(cross_zone=True)  # as AWS recommends: nothing to report
    at_default = account.nlb_target(name="at-default")  # AWS's default: cross-zone off, a risk
    closed = account.eni_target(admit_vxlan_from="192.168.0.0/24")
    deaf = account.nlb_target(name="deaf", udp_listener=False)
    source = account.launch(tags={"mirror": "true"})
    address = account.instance(source)["NetworkInterfaces"][0]["PrivateIpAddress"]
    pool = [healthy, at_default, closed, deaf, "tmt-0123456789abcdef0"]
    report = report_of(account, pool, account.mirror_filter())
    health = {row["target_id"]: row for row in report["targets"]}  # type: ignore[attr-defined]
    assert health[healthy]["health"] == "healthy" and health[healthy]["kind"] == "network-load-balancer"
    assert health[healthy]["advisories"] == []
    assert health[at_default]["health"] == "advisory" and "cross-zone" in health[at_default]["advisories"][0]
    # Issue 19: a target that drops a source's copies is graded "drops" (was "unhealthy"), naming the address
    assert health[closed]["health"] == "drops" and f"admit no UDP 4789 from {address}" in health[closed]["reason"]
    assert health[deaf]["health"] == "dead" and "no UDP listener" in health[deaf]["reason"]
    assert health["tmt-0123456789abcdef0"]["health"] == "missing"
    text = text_of(report)
    assert "Pool targets (preflight)" in text
    assert any(closed in line and "drops" in line and address in line for line in text.splitlines())
    assert any(at_default in line and "cross-zone load balancing is off" in line for line in text.splitlines())


def test_the_audit_shows_the_time_left_of_a_window(account: SimulatedAccount) -> None:
    nlb = account.nlb_target()
    instance = account.launch(tags={"mirror": "true", "mirror-until": "2099-01-01T00:00:00Z"})
    report = report_of(account, [nlb], account.mirror_filter())
    assert report["mirroring_windows"][instance].startswith("2099-01-01T00:00:00Z (")  # type: ignore[index]
    assert "left)" in text_of(report) and instance in text_of(report)


def test_the_audit_warns_of_jumbo_frames_to_a_standalone_eni_target(account: SimulatedAccount) -> None:
    eni_target, nlb = account.eni_target(), account.nlb_target()
    to_eni = account.launch("m5.large", tags={"mirror": "true", "mirror-target": eni_target})
    to_nlb = account.launch("m5.large", tags={"mirror": "true", "mirror-target": nlb})
    report = report_of(account, [eni_target, nlb], account.mirror_filter())
    warned = [row["instance_id"] for row in report["mtu_warnings"]]  # type: ignore[attr-defined]
    assert to_eni in warned and to_nlb not in warned
    assert "above 8947 bytes are truncated" in text_of(report)


def test_the_audit_reads_the_instances_the_stacks_selectors_select(account: SimulatedAccount) -> None:
    nlb, filter_id = account.nlb_target(), account.mirror_filter()
    node = account.launch(tags={"eks:cluster-name": "prod"})
    settings = settings_from(
        flags.parser().parse_args(["--targets", nlb, "--filter-id", filter_id, "--selectors", "eks:cluster-name=prod"]),
        {},
    )
    report = audit_account(settings, "123456789012", account.ec2, account.elbv2).report
    assert [row["instance_id"] for row in report["creates"]] == [node]  # type: ignore[index]
