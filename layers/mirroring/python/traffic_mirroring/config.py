"""Settings from environment variables, validated once per container.

Every problem names the variable, so a bad deployment fails at cold start with a message an operator can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.model import MirrorSession

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


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


@dataclass(frozen=True)
class Settings:
    """What the stack was deployed with. Field names follow the environment variables."""

    target_ids: tuple[str, ...]
    filter_id: str
    target_pool: str = ""  # TARGET_POOL: targets tagged mirror-pool=<this> join the pool; "" = discovery off
    pool_tag_key: str = "mirror-pool"
    reachable_tag_key: str = "mirror-reachable-from"  # on a target: the source VPCs that can reach it, or "*"
    # TARGET_REACHABLE_FROM: the operator's word on a target's reachability (wins over its tag); None = every VPC.
    target_reachable_from: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    mirror_tag_key: str = "mirror"
    mirror_tag_value: str = "true"
    managed_by: str = "traffic-mirroring-automation"
    managed_by_tag_key: str = "mirror-managed-by"
    instance_tag_key: str = "mirror-instance-id"
    instance_type_tag_key: str = "mirror-instance-type"  # on our sessions: the source's type when it was created
    target_override_tag_key: str = "mirror-target"
    filter_override_tag_key: str = "mirror-filter"
    status_tag_key: str = "mirror-status"
    until_tag_key: str = "mirror-until"  # ISO 8601 UTC: mirror until then
    # A GuardDuty finding's own window, beside the owner's tags (never instead of them): until when the finding
    # mirrors the instance (ISO 8601 UTC), and which finding (``<type> <ID>``). The reconciler removes both once
    # the window has ended, so the instance is left as its owner tagged it (docs/incident-response.md).
    finding_until_tag_key: str = "mirror-finding-until"
    finding_tag_key: str = "mirror-finding"
    selectors: tuple[Selector, ...] = ()
    generation_tag_key: str = "mirror-generation"
    account_id: str = ""  # this account (ACCOUNT_ID); "" = unknown: then only the marker tag decides ownership
    delete_when_stopped: bool = True
    eligibility_allow: frozenset[str] = field(default_factory=frozenset)
    eligibility_deny: frozenset[str] = field(default_factory=frozenset)
    probe_unlisted_types: bool = True
    approved_filter_ids: tuple[str, ...] = ()
    packet_length: int | None = None  # PACKET_LENGTH: bytes mirrored of each packet; None: the whole packet
    # APPROVED_PACKET_LENGTHS: the values an instance's mirror-packet-length tag may choose.
    approved_packet_lengths: frozenset[int] = frozenset()
    packet_length_tag_key: str = "mirror-packet-length"
    vni_policy: str = VNI_POLICY_AWS  # VNI_POLICY: aws, per-vpc or per-instance-tag
    vni_tag_key: str = "mirror-vni"  # on an instance: its VNI (per-instance-tag); on our sessions: their VNI
    target_source_limits: Mapping[str, int] = field(default_factory=dict)
    target_cache_seconds: int = 60
    # TRUSTED_TARGETS: targets (or "*") whose preflight verdict the operator overrides: they serve even when preflight
    # finds their rules drop copies or cannot judge them (the findings are still reported). Not dead targets.
    trusted_targets: frozenset[str] = frozenset()
    session_hourly_price: float = 0.015
    reconcile_dry_run: bool = False
    # MAX_DELETE_PERCENT: the safety valve; 100 lets every deletion through (what FORCE_DELETES=true did).
    max_delete_percent: float = 50.0
    # SKIP_THRESHOLD_BYTES (SkipAlarmThresholdBytes): mirrored bytes an instance may drop in 5 minutes, per direction.
    skip_threshold_bytes: float = 1_048_576

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


def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            raise ConfigurationError(f"{name} is required but not set")
        return default
    value = raw.strip()
    if len(value) > 128 or any(ch in value for ch in ",\n\r\t"):
        raise ConfigurationError(f"{name}={raw!r} is not a valid tag key or value")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False if lowered else default
    raise ConfigurationError(f"{name}={raw!r} must be true or false")


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def _pool_name(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if len(value) > 256:
        raise ConfigurationError(f"{name} is longer than a tag value may be (256 characters)")
    return value


def _id_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    items = [item.strip() for item in raw.split(",")]
    ids = [item for item in items if item]
    for item in ids:
        if any(ch.isspace() for ch in item) or len(item) > 64:
            raise ConfigurationError(f"{name} contains an invalid ID {item!r}")
    # Keep the operator's order (it breaks ties in placement) but drop repeats.
    return tuple(dict.fromkeys(ids))


def _name_set(env: Mapping[str, str], name: str) -> frozenset[str]:
    return frozenset(item.lower() for item in _id_list(env, name))


def _packet_length(raw: str, name: str) -> int:
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or not PACKET_LENGTH_MIN <= int(value) <= PACKET_LENGTH_MAX:
        raise ConfigurationError(
            f"{name}: {raw!r} is not a number of bytes from {PACKET_LENGTH_MIN} to {PACKET_LENGTH_MAX}"
        )
    return int(value)


def _whole_or_packet_length(env: Mapping[str, str], name: str) -> int | None:
    """Empty: the whole packet (None)."""
    raw = env.get(name) or ""
    return _packet_length(raw, name) if raw.strip() else None


def _packet_lengths(env: Mapping[str, str], name: str) -> frozenset[int]:
    return frozenset(_packet_length(item, name) for item in env.get(name, "").split(",") if item.strip())


def _vni_policy(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip().lower() or VNI_POLICY_AWS
    if value not in VNI_POLICIES:
        raise ConfigurationError(f"{name}={env.get(name)!r} must be one of {', '.join(VNI_POLICIES)}")
    return value


def _limits(env: Mapping[str, str], name: str) -> dict[str, int]:
    """``tmt-1=100,tmt-2=10``: source limits the operator declares for targets whose appliance we cannot see."""
    limits: dict[str, int] = {}
    for item in _id_list(env, name):
        target_id, _, raw = item.partition("=")
        if not target_id or not raw.isdigit() or int(raw) < 1:
            raise ConfigurationError(f"{name} entry {item!r} must look like tmt-0123456789abcdef0=100")
        limits[target_id] = int(raw)
    return limits


ANY_VPC = "*"


def vpc_list(raw: str) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """``vpc-a vpc-b`` (spaces or commas) or ``*``: the VPCs, None for every VPC, and the words that are neither."""
    words = [word for word in raw.replace(",", " ").split() if word]
    if ANY_VPC in words:
        return None, tuple(w for w in words if w != ANY_VPC and not w.startswith("vpc-"))
    return frozenset(w for w in words if w.startswith("vpc-")), tuple(w for w in words if not w.startswith("vpc-"))


def _reachability(env: Mapping[str, str], name: str) -> dict[str, frozenset[str] | None]:
    """``tmt-1=vpc-a vpc-b,tmt-2=*``: which source VPCs reach a target whose tags this account cannot see."""
    declared: dict[str, frozenset[str] | None] = {}
    for item in (part.strip() for part in env.get(name, "").split(",")):
        if not item:
            continue
        target_id, _, raw = item.partition("=")
        vpcs, unreadable = vpc_list(raw)
        if not target_id.strip().startswith("tmt-") or unreadable or (vpcs is not None and not vpcs):
            raise ConfigurationError(
                f"{name} entry {item!r} must look like tmt-0123456789abcdef0=vpc-0abc vpc-0def or =*"
            )
        declared[target_id.strip()] = vpcs
    return declared


def _selectors(env: Mapping[str, str], name: str) -> tuple[Selector, ...]:
    """``eks:cluster-name=prod,team=sec*,vpc-0abc,subnet-0def``."""
    selectors: list[Selector] = []
    for item in (part.strip() for part in env.get(name, "").split(",")):
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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or a given mapping, for tests). Raises ConfigurationError."""
    env = os.environ if env is None else env
    return Settings(
        target_ids=_id_list(env, "TARGET_IDS"),
        filter_id=_text(env, "FILTER_ID"),
        target_pool=_pool_name(env, "TARGET_POOL"),
        target_reachable_from=_reachability(env, "TARGET_REACHABLE_FROM"),
        mirror_tag_key=_text(env, "MIRROR_TAG_KEY", "mirror"),
        mirror_tag_value=_text(env, "MIRROR_TAG_VALUE", "true"),
        managed_by=_text(env, "MANAGED_BY", "traffic-mirroring-automation"),
        target_override_tag_key=_text(env, "TARGET_OVERRIDE_TAG_KEY", "mirror-target"),
        filter_override_tag_key=_text(env, "FILTER_OVERRIDE_TAG_KEY", "mirror-filter"),
        status_tag_key=_text(env, "STATUS_TAG_KEY", "mirror-status"),
        selectors=_selectors(env, "MIRROR_SELECTORS"),
        account_id=(env.get("ACCOUNT_ID") or "").strip(),
        delete_when_stopped=_flag(env, "DELETE_WHEN_STOPPED", True),
        eligibility_allow=_name_set(env, "ELIGIBILITY_ALLOW"),
        eligibility_deny=_name_set(env, "ELIGIBILITY_DENY"),
        probe_unlisted_types=_flag(env, "PROBE_UNLISTED_TYPES", True),
        approved_filter_ids=_id_list(env, "APPROVED_FILTER_IDS"),
        packet_length=_whole_or_packet_length(env, "PACKET_LENGTH"),
        approved_packet_lengths=_packet_lengths(env, "APPROVED_PACKET_LENGTHS"),
        vni_policy=_vni_policy(env, "VNI_POLICY"),
        target_source_limits=_limits(env, "TARGET_SOURCE_LIMITS"),
        trusted_targets=frozenset(_id_list(env, "TRUSTED_TARGETS")),
        target_cache_seconds=int(_number(env, "TARGET_CACHE_SECONDS", 60, 0, 86400)),
        session_hourly_price=_number(env, "SESSION_HOURLY_PRICE", 0.015, 0, 100),
        reconcile_dry_run=_flag(env, "RECONCILE_DRY_RUN", False),
        max_delete_percent=_number(env, "MAX_DELETE_PERCENT", 50, 0, 100),
        skip_threshold_bytes=_number(env, "SKIP_THRESHOLD_BYTES", 1_048_576, 0, 1e18),
    )
