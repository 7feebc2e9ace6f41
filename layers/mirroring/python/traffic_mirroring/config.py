"""Settings from environment variables, validated once per container.

Every problem names the variable, so a bad deployment fails at cold start with a message an operator can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass

from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.model import MirrorSession
from traffic_mirroring.settings_schema import (
    Number,
    WholeNumber,
    flag,
    id_list,
    id_set,
    load,
    name_set,
    setting,
    settings_class,
    stripped,
    tag_text,
    tag_value,
)

SELECTOR_TAG, SELECTOR_VPC, SELECTOR_SUBNET = "tag", "vpc", "subnet"

# Session options. AWS takes PacketLength 1-8500, counted from the inner Ethernet header (the limitations page adds:
# at least 35 bytes for IPv4, 55 for IPv6). The stack takes 64-8500: above both minimums, so every length it accepts
# is valid for any source. 64 keeps Ethernet + IPv4 + TCP without options (54) and UDP, not IPv6 + TCP (74 and more);
# 128 keeps every header (docs/session-options.md). A VNI is 24 bits (VXLAN).
PACKET_LENGTH_MIN, PACKET_LENGTH_MAX = 64, 8500
VNI_MAX = 2**24 - 1
VNI_POLICY_AWS, VNI_POLICY_PER_VPC, VNI_POLICY_PER_INSTANCE_TAG = "aws", "per-vpc", "per-instance-tag"
VNI_POLICIES = (VNI_POLICY_AWS, VNI_POLICY_PER_VPC, VNI_POLICY_PER_INSTANCE_TAG)

# The target and filter IDs the template's parameters accept: its AllowedPattern is ^(<this>)?$ (TrustedTargets adds
# *), matched by CloudFormation against each value of a list, spaces included (tests/integration/test_audit_settings.py
# holds the template to these). mirror-audit refuses what a deploy would refuse, with the same definition.
TARGET_ID_PATTERN = "tmt-[0-9a-f]+"
FILTER_ID_PATTERN = "tmf-[0-9a-f]+"


@dataclass(frozen=True)
class Selector:
    """One more way to be selected for mirroring (MIRROR_SELECTORS): an instance tag ``key=value`` (``value*``: a
    prefix), a VPC ID or a subnet ID."""

    kind: str
    key: str  # the tag key, or the VPC / subnet ID
    value: str = ""
    prefix: bool = False


# -- parsers of the settings only the stack has: (value, variable) -> value (the shared ones: settings_schema) ---------
def _packet_length(raw: str, name: str) -> int:
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or not PACKET_LENGTH_MIN <= int(value) <= PACKET_LENGTH_MAX:
        raise ConfigurationError(
            f"{name}: {raw!r} is not a number of bytes from {PACKET_LENGTH_MIN} to {PACKET_LENGTH_MAX}"
        )
    return int(value)


def _packet_lengths(raw: str, name: str) -> frozenset[int]:
    return frozenset(_packet_length(item, name) for item in raw.split(",") if item.strip())


def _vni_policy(raw: str, name: str) -> str:
    value = raw.strip().lower()
    if value not in VNI_POLICIES:
        raise ConfigurationError(f"{name}={raw!r} must be one of {', '.join(VNI_POLICIES)}")
    return value


def _limits(raw: str, name: str) -> dict[str, int]:
    """``tmt-1=100,tmt-2=10``: source limits the operator declares for targets whose appliance we cannot see."""
    limits: dict[str, int] = {}
    for item in id_list(raw, name):
        target_id, _, number = item.partition("=")
        if not target_id or not number.isdigit() or int(number) < 1:
            raise ConfigurationError(f"{name} entry {item!r} must look like tmt-0123456789abcdef0=100")
        limits[target_id] = int(number)
    return limits


ANY_VPC = "*"


def vpc_list(raw: str) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """``vpc-a vpc-b`` (spaces or commas) or ``*``: the VPCs, None for every VPC, and the words that are neither."""
    words = [word for word in raw.replace(",", " ").split() if word]
    if ANY_VPC in words:
        return None, tuple(w for w in words if w != ANY_VPC and not w.startswith("vpc-"))
    return frozenset(w for w in words if w.startswith("vpc-")), tuple(w for w in words if not w.startswith("vpc-"))


def _reachability(raw: str, name: str) -> dict[str, frozenset[str] | None]:
    """``tmt-1=vpc-a vpc-b,tmt-2=*``: which source VPCs reach a target whose tags this account cannot see."""
    declared: dict[str, frozenset[str] | None] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        target_id, _, words = item.partition("=")
        vpcs, unreadable = vpc_list(words)
        if not target_id.strip().startswith("tmt-") or unreadable or (vpcs is not None and not vpcs):
            raise ConfigurationError(
                f"{name} entry {item!r} must look like tmt-0123456789abcdef0=vpc-0abc vpc-0def or =*"
            )
        declared[target_id.strip()] = vpcs
    return declared


def _selectors(raw: str, name: str) -> tuple[Selector, ...]:
    """``eks:cluster-name=prod,team=sec*,vpc-0abc,subnet-0def``."""
    selectors: list[Selector] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if equals:
            if not key or not value or len(key) > 128 or len(value.rstrip("*")) > 256 or "*" in value.rstrip("*"):
                raise ConfigurationError(f"{name} entry {item!r} must look like key=value or key=prefix*")
            selectors.append(Selector(SELECTOR_TAG, key, value.rstrip("*"), value.endswith("*")))
        elif key.startswith("vpc-") and " " not in key:
            selectors.append(Selector(SELECTOR_VPC, key))
        elif key.startswith("subnet-") and " " not in key:
            selectors.append(Selector(SELECTOR_SUBNET, key))
        else:
            raise ConfigurationError(f"{name} entry {item!r} is neither key=value, a VPC ID (vpc-…) nor a subnet ID")
    return tuple(dict.fromkeys(selectors))


@settings_class
class Settings:
    """What the stack was deployed with. Each setting is declared once, on its field: its environment variable, the
    parser that validates it, its default and the template parameter that sets it (``settings_schema``). The fields
    without a declaration are the tag keys the stack reads and writes, fixed; they are not settings."""

    _: KW_ONLY  # by name only: FILTER_ID, required, follows TARGET_IDS; the fields are read in this order
    target_ids: tuple[str, ...] = setting("TARGET_IDS", id_list, default=(), parameter="TargetIds")
    # Required: the template passes FilterId, or the filter the stack created when FilterId is empty.
    filter_id: str = setting("FILTER_ID", tag_text, parameter="FilterId")
    # Targets tagged mirror-pool=<this> join the pool; "" = discovery off.
    target_pool: str = setting("TARGET_POOL", tag_value, default="", parameter="TargetPool")
    pool_tag_key: str = "mirror-pool"
    reachable_tag_key: str = "mirror-reachable-from"  # on a target: the source VPCs that can reach it, or "*"
    # The operator's word on a target's reachability (wins over its tag); None = every VPC.
    target_reachable_from: Mapping[str, frozenset[str] | None] = setting(
        "TARGET_REACHABLE_FROM", _reachability, default_factory=dict, parameter="TargetReachableFrom"
    )
    mirror_tag_key: str = setting("MIRROR_TAG_KEY", tag_text, default="mirror", parameter="MirrorTagKey")
    mirror_tag_value: str = setting("MIRROR_TAG_VALUE", tag_text, default="true", parameter="MirrorTagValue")
    # The marker of our sessions. The template passes ManagedBy or, by default (empty), the stack name: this default
    # is samconfig.toml's stack name, what a deployment with the defaults marks its sessions with.
    managed_by: str = setting("MANAGED_BY", tag_text, default="traffic-mirroring", parameter="ManagedBy")
    managed_by_tag_key: str = "mirror-managed-by"
    instance_tag_key: str = "mirror-instance-id"
    instance_type_tag_key: str = "mirror-instance-type"  # on our sessions: the source's type when it was created
    target_override_tag_key: str = setting("TARGET_OVERRIDE_TAG_KEY", tag_text, default="mirror-target")
    filter_override_tag_key: str = setting("FILTER_OVERRIDE_TAG_KEY", tag_text, default="mirror-filter")
    status_tag_key: str = setting("STATUS_TAG_KEY", tag_text, default="mirror-status")
    until_tag_key: str = "mirror-until"  # ISO 8601 UTC: mirror until then
    # A GuardDuty finding's own window, beside the owner's tags (never instead of them): until when the finding
    # mirrors the instance (ISO 8601 UTC), and which finding (``<type> <ID>``). The reconciler removes both once
    # the window has ended, so the instance is left as its owner tagged it (docs/incident-response.md).
    finding_until_tag_key: str = "mirror-finding-until"
    finding_tag_key: str = "mirror-finding"
    selectors: tuple[Selector, ...] = setting("MIRROR_SELECTORS", _selectors, default=(), parameter="MirrorSelectors")
    generation_tag_key: str = "mirror-generation"
    # This account (the template passes AWS::AccountId); "" = unknown: then only the marker tag decides ownership.
    account_id: str = setting("ACCOUNT_ID", stripped, default="")
    delete_when_stopped: bool = setting("DELETE_WHEN_STOPPED", flag, default=True, parameter="DeleteWhenStopped")
    eligibility_allow: frozenset[str] = setting(
        "ELIGIBILITY_ALLOW", name_set, default=frozenset(), parameter="EligibilityAllow"
    )
    eligibility_deny: frozenset[str] = setting(
        "ELIGIBILITY_DENY", name_set, default=frozenset(), parameter="EligibilityDeny"
    )
    probe_unlisted_types: bool = setting(
        "PROBE_UNLISTED_TYPES", flag, default=True, parameter="ProbeUnlistedInstanceTypes"
    )
    approved_filter_ids: tuple[str, ...] = setting(
        "APPROVED_FILTER_IDS", id_list, default=(), parameter="ApprovedFilterIds"
    )
    # Bytes mirrored of each packet; None: the whole packet.
    packet_length: int | None = setting("PACKET_LENGTH", _packet_length, default=None, parameter="PacketLength")
    # The values an instance's mirror-packet-length tag may choose.
    approved_packet_lengths: frozenset[int] = setting(
        "APPROVED_PACKET_LENGTHS", _packet_lengths, default=frozenset(), parameter="ApprovedPacketLengths"
    )
    packet_length_tag_key: str = "mirror-packet-length"
    # aws, per-vpc or per-instance-tag
    vni_policy: str = setting("VNI_POLICY", _vni_policy, default=VNI_POLICY_AWS, parameter="VniPolicy")
    vni_tag_key: str = "mirror-vni"  # on an instance: its VNI (per-instance-tag); on our sessions: their VNI
    target_source_limits: Mapping[str, int] = setting(
        "TARGET_SOURCE_LIMITS", _limits, default_factory=dict, parameter="TargetSourceLimits"
    )
    # Targets (or "*") whose preflight verdict the operator overrides: they serve even when preflight finds their
    # rules drop copies or cannot judge them (the findings are still reported). Not dead targets.
    trusted_targets: frozenset[str] = setting(
        "TRUSTED_TARGETS", id_set, default=frozenset(), parameter="TrustedTargets"
    )
    target_cache_seconds: int = setting("TARGET_CACHE_SECONDS", WholeNumber(0, 86400), default=60)
    # USD per session-hour, AWS's price in us-east-1 (https://aws.amazon.com/vpc/pricing/), for the cost figures:
    # the one place the price is written (bench/cost.py and mirror-audit's help read it here; the template's
    # SessionHourlyPrice default is held to it by tests/integration/test_settings_declarations.py).
    session_hourly_price: float = setting(
        "SESSION_HOURLY_PRICE", Number(0, 100), default=0.015, parameter="SessionHourlyPrice"
    )
    reconcile_dry_run: bool = setting("RECONCILE_DRY_RUN", flag, default=False, parameter="ReconcileDryRun")
    # The safety valve; 100 lets every deletion through (what FORCE_DELETES=true did).
    max_delete_percent: float = setting(
        "MAX_DELETE_PERCENT", Number(0, 100), default=50.0, parameter="MaxDeletePercent"
    )
    # Mirrored bytes an instance may drop in 5 minutes, per direction.
    skip_threshold_bytes: float = setting(
        "SKIP_THRESHOLD_BYTES", Number(0, 1e18), default=1_048_576.0, parameter="SkipAlarmThresholdBytes"
    )

    def wants_mirroring(self, tags: Mapping[str, str]) -> bool:
        """The mirror tag is present and its value equals the configured one, in any case. (Whether an instance is
        selected, by this tag or by a selector, is the planner's rule ``selected``.)"""
        value = tags.get(self.mirror_tag_key)
        return value is not None and value.strip().lower() == self.mirror_tag_value.lower()

    def owns(self, session: MirrorSession) -> bool:
        """The one ownership rule: our marker tag with our stack's value, and our account.

        The account that owns a target shared through AWS RAM sees other accounts' sessions on it, marker included
        when they deployed under the same stack name; only the owner may change a session, so those are never ours.
        """
        if session.tags.get(self.managed_by_tag_key) != self.managed_by:
            return False
        return not (self.account_id and session.owner_id and session.owner_id != self.account_id)

    def session_description(self, instance_id: str) -> str:
        """The Description of every session we create for an instance: the stack's marker and the instance, nothing
        else, so the sessions of an instance whose ENIs left it (stopped, terminated) are found by one exact
        ``description`` filter. DescribeTrafficMirrorSessions documents no tag filter; ownership is still decided
        by ``owns``. https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeTrafficMirrorSessions.html
        """
        return f"{self.managed_by}: {instance_id}"

    def packet_length_wanted(self, tags: Mapping[str, str]) -> tuple[int | None, bool]:
        """The packet length an instance's sessions should have, and whether its ``mirror-packet-length`` tag (if
        any) is approved: one of ApprovedPacketLengths, written as a plain integer. Without the tag: PacketLength."""
        raw = tags.get(self.packet_length_tag_key)
        if raw is None:
            return self.packet_length, True
        value = raw.strip()
        if value.isascii() and value.isdigit() and int(value) in self.approved_packet_lengths:
            return int(value), True
        return self.packet_length, False

    def trusts(self, target_id: str) -> bool:
        """Whether the operator overrides preflight's verdict on this target (TrustedTargets, or ``*``)."""
        return "*" in self.trusted_targets or target_id in self.trusted_targets

    def approved_filters(self) -> frozenset[str]:
        """Filters a ``mirror-filter`` tag may choose: the stack's filter and the ones the operator listed."""
        return frozenset((self.filter_id, *self.approved_filter_ids))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or a given mapping, for tests). Raises ConfigurationError."""
    return load(Settings, env)
