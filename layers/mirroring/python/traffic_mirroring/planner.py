"""Desired state versus actual state: the one set of rules every trigger and the reconciler share.

``plan_mirroring`` takes an Inventory and returns a Plan. It makes no AWS call, so every rule here (eligibility,
ownership, the 3-per-ENI limit, session numbers, approved overrides, live targets, target capacity, AZ affinity) is
testable without AWS. The inventory asks this module what to read (``candidate_targets``, ``needs_placement``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from traffic_mirroring.config import (
    SELECTOR_SUBNET,
    SELECTOR_TAG,
    SELECTOR_VPC,
    VNI_POLICY_PER_INSTANCE_TAG,
    Selector,
    Settings,
    vpc_list,
)
from traffic_mirroring.eligibility import Verdict, listed_verdict
from traffic_mirroring.model import (
    SESSIONS_PER_ENI,
    TARGET_KIND_ENI,
    AttachedEni,
    CreateSession,
    DeleteSession,
    EniVerdict,
    FilterRule,
    Instance,
    Inventory,
    MirrorFilter,
    MirrorSession,
    MirrorTarget,
    Plan,
    Reason,
    Skip,
    SubjectPlan,
    UpdateSession,
)
from traffic_mirroring.placement import TargetUsage, lowest_free_session_number, rank_targets
from traffic_mirroring.preflight import Finding, Grade, IngressJudge, cross_zone_advisory, merge
from traffic_mirroring.session_options import instance_vni, option_changes, vpc_vnis, wanted_options

UNCONFIRMED_MARK = "~"  # generation tag "G~D": generation G, creations with digest D not confirmed by the last run
CLEAR_STATUS = ""  # remove the status tag: the instance is not asking to be mirrored
STOPPED_STATES = frozenset({"stopping", "stopped"})
TERMINATED_STATES = frozenset({"shutting-down", "terminated"})
SERVICES_WHOSE_ENIS_ARE_SOURCES = frozenset({"rds.amazonaws.com", "elasticache.amazonaws.com"})
# A session whose target receives nothing is deleted when it cannot move; the ENI's skip says why.
_RECEIVES_NOTHING = {
    Reason.TARGET_MISSING: Reason.TARGET_DEAD,
    Reason.TARGET_DEAD: Reason.TARGET_DEAD,
    Reason.TARGET_UNREACHABLE: Reason.NO_REACHABLE_TARGET,
}
# Skips that are information, not the instance's status (its other ENIs decide it).
_SILENT_SKIPS = frozenset({Reason.ENI_IS_MIRROR_TARGET, Reason.AWAITING_VERDICT})


# -- the pool and the network ----------------------------------------------------------------------------------
def pool_targets(settings: Settings, targets: Mapping[str, MirrorTarget] | None) -> tuple[str, ...]:
    """TargetIds in the operator's order, then this account's targets tagged ``mirror-pool=<TargetPool>`` (by ID).

    A shared target shows this account no tags, so it can only be in TargetIds. Without the targets read, the
    discovered part is unknown and only TargetIds is returned.
    """
    if not settings.target_pool or targets is None:
        return settings.target_ids
    discovered = sorted(t.target_id for t in targets.values() if _discovered(t, settings))
    return tuple(dict.fromkeys((*settings.target_ids, *discovered)))


def _discovered(target: MirrorTarget, settings: Settings) -> bool:
    ours = not (settings.account_id and target.owner_id and target.owner_id != settings.account_id)
    return ours and target.tags.get(settings.pool_tag_key) == settings.target_pool


def reachable_vpcs(target: MirrorTarget, settings: Settings) -> frozenset[str] | None:
    """The source VPCs declared to reach the target, besides its own; None: every VPC.

    The operator's TargetReachableFrom wins, then the target's ``mirror-reachable-from`` tag. Without either, a
    TargetIds entry is reachable from every VPC (a single-VPC stack changes nothing) and a discovered target only
    from its own VPC (a spoke's Gateway Load Balancer endpoint serves its VPC).
    """
    if target.target_id in settings.target_reachable_from:
        return settings.target_reachable_from[target.target_id]
    declared = target.tags.get(settings.reachable_tag_key, "")
    if declared.strip():
        return vpc_list(declared)[0]
    return None if target.target_id in settings.target_ids else frozenset()


def can_reach(source_vpc: str, target: MirrorTarget, settings: Settings) -> bool:
    """Mirrored packets leave by the source VPC's route table: a target in that VPC, or one declared reachable."""
    if target.vpc_id and target.vpc_id == source_vpc:
        return True
    vpcs = reachable_vpcs(target, settings)
    return vpcs is None or source_vpc in vpcs


# -- which instance tags the rules read ------------------------------------------------------------------------
def tag_keys_that_matter(settings: Settings) -> frozenset[str]:
    """The instance tag keys whose change can change what is mirrored: every key the rules of this module read to
    decide sessions. The owner's selection and window (the mirror tag, ``mirror-until``), a finding's window
    (``mirror-finding-until``), the target and filter overrides, the session options (``mirror-packet-length``;
    ``mirror-vni``, read under VniPolicy per-instance-tag only but listed always, as the template cannot tell) and
    the selectors' tag keys.

    The one list: the tag-change trigger (``triggers.INSTANCE_TAG_CHANGE``) ignores a change of no key in it, and
    the tag-change rule in template.yaml lists exactly these keys, or, with MirrorSelectors (whose tag keys the
    template cannot take out of the parameter), lets every change through but one of ``own_tags_that_do_not_matter``
    only; tests/integration/test_template.py and test_trigger_registry.py compare the rule and the trigger with this
    list, tests/unit the planner's decisions."""
    return frozenset(
        {
            settings.mirror_tag_key,
            settings.until_tag_key,
            settings.finding_until_tag_key,
            settings.target_override_tag_key,
            settings.filter_override_tag_key,
            settings.packet_length_tag_key,
            settings.vni_tag_key,
            *(selector.key for selector in settings.selectors if selector.kind == SELECTOR_TAG),
        }
    )


def own_tags_that_do_not_matter(settings: Settings) -> frozenset[str]:
    """The tags this product writes on instances whose change cannot change what is mirrored (the status, the
    generation, the finding's label): a change of only these must never trigger the tag-change function again."""
    return frozenset({settings.status_tag_key, settings.generation_tag_key, settings.finding_tag_key})


# -- what the inventory must read (asked by inventory.py, so the rules stay here) -------------------------------
def candidate_targets(
    instance: Instance, settings: Settings, targets: Mapping[str, MirrorTarget] | None
) -> tuple[str, ...]:
    """The targets a session of this instance may use: its approved override target, else the pool."""
    pool = pool_targets(settings, targets)
    override = instance.tags.get(settings.target_override_tag_key)
    if override:
        return (override,) if override in pool else ()
    return pool


def is_judged(instance: Instance, settings: Settings, now: datetime) -> bool:
    """Only a running instance that wants mirroring now is judged by its type (stop, terminate, untag and expiry
    are not)."""
    return instance.state == "running" and wanted(instance, settings, now)


def may_need_placement(instance: Instance, settings: Settings, verdicts: Mapping[str, Verdict], now: datetime) -> bool:
    """Whether the targets are worth reading at all (then ``needs_placement`` decides on usage)."""
    return is_judged(instance, settings, now) and verdicts.get(instance.instance_type) != Verdict.UNSUPPORTED


def type_changed(session: MirrorSession, instance: Instance, settings: Settings) -> bool:
    """The session records another type than the instance has now (stopped, changed, started: AWS deletes no
    session for it). A session without the record, made by an older version, is judged by the current type alone."""
    recorded = session.tags.get(settings.instance_type_tag_key)
    return recorded is not None and recorded.strip().lower() != instance.instance_type.strip().lower()


def probes_changed_type(
    instance: Instance, sessions: Iterable[MirrorSession], settings: Settings, verdicts: Mapping[str, Verdict]
) -> bool:
    """Whether AWS is to be asked again about this instance: a session of ours on it was created under another type,
    and the current type is neither on AWS's list nor answered yet (nor one the list refuses: that one loses its
    sessions without asking). The probe is a create, so that session makes way for it (``_Planner``)."""
    allow, deny = settings.eligibility_allow, settings.eligibility_deny
    if (
        verdicts.get(instance.instance_type) != Verdict.ASK_AWS
        or not settings.probe_unlisted_types
        or listed_verdict(instance.instance_type, allow, deny) == Verdict.UNSUPPORTED
    ):
        return False
    enis = {eni.eni_id for eni in instance.enis}
    return any(settings.owns(s) and s.eni_id in enis and type_changed(s, instance, settings) for s in sessions)


# -- who is mirrored, and until when ----------------------------------------------------------------------------
# Two independent reasons to mirror an instance, each with its own tags:
# - its owner's: ``selected`` (the mirror tag, else a selector) within the owner's ``mirror-until`` window, if any;
# - a GuardDuty finding's: ``mirror-finding-until`` still ahead (written by the GuardDuty function, never by hand).
# A finding never rewrites the owner's tags, so when its window ends the owner's choice (an opt-out ``mirror=false``,
# an own window, no end) holds again, and the finding's tags are removed (``finding_tags_to_remove``).
def wanted(instance: Instance, settings: Settings, now: datetime) -> bool:
    """Whether the instance should be mirrored now: a finding's window is open, or its owner selects it within
    the owner's window (docs/incident-response.md)."""
    if in_finding_window(instance, settings, now):
        return True
    return selected(instance, settings) and mirroring_window(instance, settings, now) is None


def selected(instance: Instance, settings: Settings) -> bool:
    """The owner's choice. The mirror tag decides when present: its value (any case) opts in, any other value opts
    out, whatever a selector says. Without it, any selector of MirrorSelectors selects: an instance tag (value or
    prefix), the instance's VPC or subnet. (A finding's window is not the owner's choice: see ``wanted``.)"""
    if settings.mirror_tag_key in instance.tags:
        return settings.wants_mirroring(instance.tags)
    return any(_matches(selector, instance) for selector in settings.selectors)


def _matches(selector: Selector, instance: Instance) -> bool:
    if selector.kind == SELECTOR_VPC:
        return instance.vpc_id == selector.key
    if selector.kind == SELECTOR_SUBNET:
        return instance.subnet_id == selector.key
    value = instance.tags.get(selector.key)
    if value is None:
        return False
    return value.startswith(selector.value) if selector.prefix else value == selector.value


def parse_until(raw: str) -> datetime | None:
    """An ISO 8601 time with its zone (``2026-12-01T18:00:00Z``, ``…+00:00``), as UTC; None when unreadable or
    without a zone (a local time would be a guess)."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or "T" not in text.upper():
        return None
    return moment.astimezone(UTC)


def mirroring_window(instance: Instance, settings: Settings, now: datetime) -> str | None:
    """None when the instance may be mirrored now (no ``mirror-until``, or a time still ahead); else why not."""
    raw = instance.tags.get(settings.until_tag_key)
    if raw is None:
        return None
    until = parse_until(raw)
    if until is None:
        return Reason.UNTIL_UNREADABLE
    return Reason.EXPIRED if now >= until else None


def finding_window_end(instance: Instance, settings: Settings) -> datetime | None:
    """The end of the instance's finding window (``mirror-finding-until``), passed or not; None without a readable
    one."""
    raw = instance.tags.get(settings.finding_until_tag_key)
    return parse_until(raw) if raw is not None else None


def in_finding_window(instance: Instance, settings: Settings, now: datetime) -> bool:
    """A finding's window selects the instance by itself, whatever its owner's tags say, until it ends. An
    unreadable ``mirror-finding-until`` (the function writes a readable one) opens no window."""
    end = finding_window_end(instance, settings)
    return end is not None and now < end


def finding_tags_to_remove(instance: Instance, settings: Settings, now: datetime) -> tuple[str, ...]:
    """The finding's own tags the instance still carries once no finding window is open (ended, unreadable, or
    a ``mirror-finding`` left without its end): removing them leaves the instance as its owner tagged it."""
    if in_finding_window(instance, settings, now) or instance.state in TERMINATED_STATES:
        return ()
    keys = (settings.finding_tag_key, settings.finding_until_tag_key)
    return tuple(key for key in keys if key in instance.tags)


def window_end(instance: Instance, settings: Settings, now: datetime) -> datetime | None:
    """When the instance's mirroring ends, as far as its tags say: the later of an open finding window and its
    owner's open window; None when it has no end (its owner selects it without ``mirror-until``) or none is
    open."""
    ends: list[datetime] = []
    finding = finding_window_end(instance, settings)
    if finding is not None and now < finding:
        ends.append(finding)
    if selected(instance, settings):
        raw = instance.tags.get(settings.until_tag_key)
        if raw is None:
            return None  # the owner mirrors it without end: a finding adds none
        own = parse_until(raw)
        if own is not None and now < own:
            ends.append(own)
    return max(ends, default=None)


def time_left(instance: Instance, settings: Settings, now: datetime) -> str | None:
    """``<end> (3h 12m left)`` for an instance with a window still open (its own or a finding's, the later); None
    without one."""
    until = window_end(instance, settings, now)
    if until is None:
        return None
    minutes = int((until - now).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    left = (f"{days}d " if days else "") + f"{rest // 60}h {rest % 60}m"
    return f"{until.strftime('%Y-%m-%dT%H:%M:%SZ')} ({left} left)"


def needs_placement(
    instance: Instance,
    sessions: Iterable[MirrorSession],
    settings: Settings,
    verdicts: Mapping[str, Verdict],
    targets: Mapping[str, MirrorTarget],
    now: datetime,
) -> bool:
    """Whether the plan could create or move a session, so target usage is worth reading: an ENI without our
    session on a pool target its VPC can reach."""
    if not may_need_placement(instance, settings, verdicts, now):
        return False
    sessions = list(sessions)
    if probes_changed_type(instance, sessions, settings, verdicts):
        return True
    candidates = set(candidate_targets(instance, settings, targets))
    placed = {s.eni_id: s.target_id for s in sessions if settings.owns(s) and s.target_id in candidates}

    def well_placed(eni: AttachedEni) -> bool:
        target = targets.get(placed.get(eni.eni_id, ""))
        return target is not None and target.live and can_reach(eni.vpc_id, target, settings)

    return any(not well_placed(eni) for eni in instance.enis if eni.interface_type == "interface" and not eni.ipv6_only)


def filters_to_judge(
    instance: Instance, sessions: Iterable[MirrorSession], settings: Settings, now: datetime
) -> set[str]:
    """The filters whose rules say whether a session not ours, ahead of ours on an ENI of this instance, takes the
    packets ours would (``shadows``): only when such a session exists and uses another filter (the same one needs no
    rules), so the usual launch reads no filter."""
    if not is_judged(instance, settings, now):
        return set()
    ours = instance.tags.get(settings.filter_override_tag_key) or settings.filter_id
    by_eni: dict[str, list[MirrorSession]] = defaultdict(list)
    for session in sessions:
        by_eni[session.eni_id].append(session)
    wanted: set[str] = set()
    for eni in instance.enis:
        on_eni = by_eni.get(eni.eni_id, [])
        number = _number_of_ours(on_eni, settings)
        ahead = {
            s.filter_id
            for s in on_eni
            if number is not None and not settings.owns(s) and s.session_number < number and s.filter_id != ours
        }
        if ahead:
            wanted |= ahead | {ours}
    return wanted


def _number_of_ours(on_eni: Sequence[MirrorSession], settings: Settings) -> int | None:
    """The session number ours has on the ENI (the lowest, when there are duplicates), or would get."""
    owned = [s.session_number for s in on_eni if settings.owns(s)]
    return min(owned) if owned else lowest_free_session_number(s.session_number for s in on_eni)


# -- sessions ahead of ours ---------------------------------------------------------------------------------------
# AWS evaluates an ENI's sessions by ascending session number and mirrors each packet once, to the first session
# whose filter accepts it (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-sessions.html), so a
# session behind one whose filter accepts every packet it would accept receives nothing. A filter's rules are
# evaluated from the lowest number, the first that matches decides, and without a rule nothing is mirrored
# (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-filters.html).
_ANY = {4: "0.0.0.0/0", 6: "::/0"}


def shadows(ahead: MirrorFilter, ours: MirrorFilter) -> bool:
    """Whether ``ahead`` provably accepts every packet ``ours`` can accept, in both directions: the same filter, or
    one that accepts all traffic of each IP version ours has an accept rule for (and its network services). Anything
    that would need more reasoning is not proof: False."""
    if ahead.filter_id == ours.filter_id:
        return True
    if not ours.network_services <= ahead.network_services:
        return False
    if not any(rule.accept for rule in (*ours.ingress, *ours.egress)):
        return False  # ours mirrors nothing (or only network services): its own problem, not the other session's
    return all(
        _accepts_every_packet(ahead_rules, version)
        for ours_rules, ahead_rules in ((ours.ingress, ahead.ingress), (ours.egress, ahead.egress))
        for version in {_ip_version(rule) for rule in ours_rules if rule.accept}
    )


def _ip_version(rule: FilterRule) -> int:
    return 6 if ":" in rule.source_cidr or ":" in rule.destination_cidr else 4


def _accepts_every_packet(rules: Sequence[FilterRule], version: int) -> bool:
    """The first rule of this IP version that matches every packet accepts, and no reject comes before it. A rule
    naming no protocol matches all; one naming protocol 0 is not taken to (AWS does not document it)."""
    for rule in sorted((r for r in rules if _ip_version(r) == version), key=lambda r: r.number):
        matches_all = (
            rule.source_cidr == rule.destination_cidr == _ANY[version]
            and rule.protocol is None
            and rule.source_ports is None
            and rule.destination_ports is None
        )
        if not rule.accept:
            return False  # it may drop a packet ours accepts
        if matches_all:
            return True
    return False


def next_generation(deleted_session_ids: Iterable[str]) -> str:
    """The instance's mirror generation after these deletions: derived from them, so every invocation that
    deletes the same sessions agrees on it, and a later create never reuses a token of a deleted session."""
    ids = sorted(set(deleted_session_ids))
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:12] if ids else ""


def plan_mirroring(inventory: Inventory, settings: Settings) -> Plan:
    return _Planner(inventory, settings).plan()


class _Planner:
    def __init__(self, inventory: Inventory, settings: Settings) -> None:
        self.inventory = inventory
        self.settings = settings
        self.targets = _with_declared_limits(inventory.targets, settings)
        # Every session counts toward target limits, whoever owns it: AWS counts them all.
        self.usage = TargetUsage(inventory.sessions, inventory.target_sources)
        self.sessions_by_eni: dict[str, list[MirrorSession]] = defaultdict(list)
        for session in _unique(inventory.sessions):
            self.sessions_by_eni[session.eni_id].append(session)
        self.target_enis = inventory.target_eni_ids | {
            t.eni_id for t in (self.targets or {}).values() if t.eni_id and t.kind == TARGET_KIND_ENI
        }
        self.probing: dict[str, str] = {}  # unlisted type → the instance whose create asks AWS
        self.pool = pool_targets(settings, self.targets)
        self._judges: dict[str, IngressJudge] = {}  # target → its preflight judge (memoizes per source address)
        self.result = Plan(pool=self.pool if self.targets is not None else ())
        self.vnis_by_vpc = vpc_vnis(inventory, settings)  # VniPolicy per-vpc: each source VPC's VNI

    # -- entry point -------------------------------------------------------------------------------------------
    def plan(self) -> Plan:
        instance_enis: set[str] = set()
        now = self.inventory.read_at

        def asks_aws(instance: Instance) -> bool:
            return is_judged(instance, self.settings, now) and self._verdict(instance) == Verdict.ASK_AWS

        # Instances whose type is asked of AWS come last: a slot goes first to one AWS is known to accept (an ask
        # AWS refuses would hold it for nothing until the second pass). See _plan_new_session for the asks.
        for instance in sorted(self.inventory.instances.values(), key=lambda i: (asks_aws(i), i.instance_id)):
            instance_enis.update(eni.eni_id for eni in instance.enis)
            self._plan_instance(instance)
        self._plan_orphans(instance_enis)
        self.result.managed_sessions = sum(1 for s in _unique(self.inventory.sessions) if self.settings.owns(s))
        self.result.type_verdicts = {
            name: str(verdict)
            for name, verdict in sorted(self.inventory.type_verdicts.items())
            if listed_verdict(name, self.settings.eligibility_allow, self.settings.eligibility_deny) == Verdict.ASK_AWS
        }
        if self.targets is not None:
            pool = self.pool
            self.result.missing_pool_targets = tuple(t for t in pool if t not in self.targets)
            self.result.dead_targets = {
                t: self.targets[t].problem for t in pool if t in self.targets and not self.targets[t].live
            }
            self._report_preflight(pool)
            for target_id in pool:
                declared = (
                    self.targets[target_id].tags.get(self.settings.reachable_tag_key, "")
                    if (target_id in self.targets)
                    else ""
                )
                unreadable = vpc_list(declared)[1]
                if unreadable:
                    self.result.reachability_problems[target_id] = (
                        f"tag {self.settings.reachable_tag_key}={declared!r}: not VPC IDs: {' '.join(unreadable)}"
                    )
        return self.result

    # -- one instance ------------------------------------------------------------------------------------------
    def _plan_instance(self, instance: Instance) -> None:
        plan = self.result.for_subject(instance.instance_id)
        plan.current_status = instance.tags.get(self.settings.status_tag_key)
        plan.instance_type = instance.instance_type
        plan.is_instance = instance.state not in TERMINATED_STATES
        tag = instance.tags.get(self.settings.generation_tag_key, "")
        plan.generation, _, plan.unconfirmed = tag.partition(UNCONFIRMED_MARK)
        tagged = selected(instance, self.settings)
        now = self.inventory.read_at
        finding = in_finding_window(instance, self.settings, now)
        verdict = self._verdict(instance) if is_judged(instance, self.settings, now) else Verdict.SUPPORTED

        unmirror = self._reason_to_unmirror(instance, tagged, finding, verdict)
        if (
            unmirror is None
            and verdict == Verdict.ASK_AWS
            and self.probing.get(instance.instance_type, instance.instance_id) != instance.instance_id
        ):
            # One instance per unlisted type asks AWS; the others wait for its answer (same run or the next). Only
            # to be mirrored: sessions the page already refuses go now (the second pass never deletes).
            plan.skips.append(Skip(instance.instance_id, None, Reason.AWAITING_VERDICT))
            plan.sources = self._source_verdicts(instance, None, verdict, Reason.AWAITING_VERDICT, {})
            return
        if unmirror == Reason.UNSUPPORTED_INSTANCE_TYPE:
            plan.skips.append(Skip(instance.instance_id, None, Reason.UNSUPPORTED_INSTANCE_TYPE))
        refusal = self._override_refusal(instance) if unmirror is None else None

        after = self._plan_enis(instance, plan, unmirror, refusal, probe=verdict == Verdict.ASK_AWS)

        # Creates after this instance's deletes belong to its next generation (see executor: tokens).
        generation = next_generation(d.session.session_id for d in plan.deletes) or plan.generation
        probe_type = None
        if verdict == Verdict.ASK_AWS and plan.creates:
            self.probing[instance.instance_type] = instance.instance_id
            probe_type = instance.instance_type
        plan.creates = [replace(c, generation=generation, probe_type=probe_type) for c in plan.creates]
        if refusal is not None:
            plan.skips.append(Skip(instance.instance_id, None, refusal))
        plan.status = self._status(instance, plan, tagged or finding, unmirror)
        plan.sources = self._source_verdicts(instance, unmirror, verdict, refusal, after)
        plan.remove_tags = finding_tags_to_remove(instance, self.settings, now)
        window = time_left(instance, self.settings, now) if unmirror is None else None
        if window is not None:
            self.result.windows[instance.instance_id] = window

    def _plan_enis(
        self, instance: Instance, plan: SubjectPlan, unmirror: str | None, refusal: str | None, probe: bool
    ) -> dict[str, str]:
        """Each ENI's deletes, skips and sessions, given why the instance is not to be mirrored (``unmirror``, as
        _reason_to_unmirror says) or why its override is not approved (``refusal``); returns, for each ENI planned,
        why the plan leaves it unmirrored ("" when it leaves it mirrored)."""
        after: dict[str, str] = {}
        if unmirror == "keep":
            return after
        for eni in instance.enis:
            managed = self._managed_on(eni.eni_id)
            if unmirror is not None:
                plan.deletes.extend(DeleteSession(instance.instance_id, s, unmirror) for s in managed)
                after[eni.eni_id] = unmirror
                continue
            not_a_source = self._not_a_source(eni)
            if not_a_source == Reason.ENI_IS_MIRROR_TARGET:
                # AWS never takes a target's own ENI as a source (it would mirror the mirrored traffic).
                plan.skips.append(Skip(instance.instance_id, eni.eni_id, Reason.ENI_IS_MIRROR_TARGET))
                continue
            if not_a_source == Reason.UNSUPPORTED_INTERFACE_TYPE:
                plan.deletes.extend(
                    DeleteSession(instance.instance_id, s, Reason.UNSUPPORTED_INTERFACE_TYPE) for s in managed
                )
                continue
            if not_a_source == Reason.IPV6_ONLY_SUBNET:
                # Nothing is asked of AWS; a session found there mirrors nothing and is deleted.
                gone = Reason.IPV6_ONLY_SUBNET
                plan.deletes.extend(DeleteSession(instance.instance_id, s, gone) for s in managed)
                plan.skips.append(Skip(instance.instance_id, eni.eni_id, gone))
                continue
            if refusal is not None:
                continue  # an override that is not approved: leave what exists, create nothing
            after[eni.eni_id] = self._plan_mirrored_eni(instance, eni, managed, plan, probe=probe)
        return after

    def _report_preflight(self, pool: Sequence[str]) -> None:
        """What preflight finds about each live pool target, for the sources in scope that may use it (judged by
        their addresses): proof of drops (``unhealthy_targets``, with the addresses not admitted) and risks
        (``target_advisories``, with what to do). A target the operator trusts reports its drops as a risk."""
        known = self.targets or {}
        sources = self._sources_in_scope()
        for target_id in pool:
            target = known.get(target_id)
            if target is None or not target.live:
                continue  # missing or dead: reported as such
            found = merge(
                finding
                for eni, candidates in sources
                if target_id in candidates and can_reach(eni.vpc_id, target, self.settings)
                for finding in self._findings(eni, target)
            )
            cross_zone = cross_zone_advisory(target.cross_zone, target.cross_zone_decided_by)
            advisories = [cross_zone.reason] if cross_zone else []
            advisories += [f.reason for f in found if f.grade == Grade.ADVISORY]
            drops = [f.reason for f in found if f.grade == Grade.DROPS]
            if drops and self.settings.trusts(target_id):
                advisories += [f"trusted (TrustedTargets) although {reason}" for reason in drops]
            elif drops:
                self.result.unhealthy_targets[target_id] = "; ".join(drops)
            if advisories:
                self.result.target_advisories[target_id] = advisories

    def _sources_in_scope(self) -> list[tuple[AttachedEni, frozenset[str]]]:
        """Each ENI of a judged instance that may be a source, with the targets its sessions may use."""
        now = self.inventory.read_at
        verdicts = self.inventory.type_verdicts
        return [
            (eni, candidates)
            for instance in self.inventory.instances.values()
            if may_need_placement(instance, self.settings, verdicts, now)
            for candidates in [frozenset(candidate_targets(instance, self.settings, self.targets))]
            for eni in instance.enis
            if not self._not_a_source(eni)
        ]

    def _not_a_source(self, eni: AttachedEni) -> str:
        """Why AWS cannot mirror this ENI as a source ("" when it can): a target's own ENI, an ENI of another type
        than ``interface`` (or made by a service other than RDS and ElastiCache), or one in an IPv6-only subnet
        ("Traffic Mirroring is not supported for IPv6-only subnets":
        https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html)."""
        if eni.eni_id in self.target_enis:
            return Reason.ENI_IS_MIRROR_TARGET
        if not _may_be_source(eni.interface_type, eni.managed_by_service):
            return Reason.UNSUPPORTED_INTERFACE_TYPE
        if eni.ipv6_only:
            return Reason.IPV6_ONLY_SUBNET
        return ""

    # -- coverage: which ENIs should be mirrored, and are -------------------------------------------------------
    def _source_verdicts(
        self,
        instance: Instance,
        unmirror: str | None,
        verdict: Verdict,
        held: str | None,
        after: Mapping[str, str],
    ) -> list[EniVerdict]:
        """Each ENI of the instance, counted or not among those that should be mirrored (coverage.py), with why not.
        ``held``: why nothing was planned for its ENIs (AWS's verdict awaited, an override refused): what exists
        stays. ``after``: for each ENI planned, why the plan leaves it unmirrored ("" when it leaves it mirrored)."""
        out = self._not_counted(instance, unmirror, verdict)
        verdicts: list[EniVerdict] = []
        for eni in instance.enis:
            reason = out or self._not_a_source(eni)
            if reason:
                verdicts.append(EniVerdict(instance.instance_id, eni.eni_id, False, reason))
                continue
            problem = self._session_problem(eni)
            if eni.eni_id in after:
                planned = after[eni.eni_id]
            else:  # nothing planned for it: it stays as it is
                planned = "" if problem == "" else (held or problem or Reason.MISSING_SESSION)
            now = problem if problem is not None else (planned or Reason.MISSING_SESSION)
            verdicts.append(EniVerdict(instance.instance_id, eni.eni_id, True, planned, now))
        return verdicts

    def _not_counted(self, instance: Instance, unmirror: str | None, verdict: Verdict) -> str:
        """Why none of the instance's ENIs should be mirrored now ("" when they may be). Nobody asks for it (its
        owner opted out, never selected it, or its window ended), it is not running, or AWS does not support its
        type: refused (by AWS, by EligibilityDeny, or unlisted with probing off), or unlisted and either documented
        as unsupported (previous generation) or refused when AWS was last asked (its status says so). An unlisted type
        AWS is being asked about counts: it may well be supported. A ``mirror-until`` nobody can read counts: its
        owner asked, and only an operator can make it readable."""
        if unmirror == "keep":
            return Reason.INSTANCE_STOPPED if instance.state in STOPPED_STATES else Reason.INSTANCE_PENDING
        opted_out = self.settings.mirror_tag_key in instance.tags
        if unmirror in (Reason.INSTANCE_NOT_TAGGED, Reason.TAG_REMOVED) and opted_out:
            return Reason.OPTED_OUT
        if unmirror is not None and unmirror != Reason.UNTIL_UNREADABLE:
            return unmirror
        allow, deny = self.settings.eligibility_allow, self.settings.eligibility_deny
        if not is_judged(instance, self.settings, self.inventory.read_at):
            verdict = listed_verdict(instance.instance_type, allow, deny)  # not asked of AWS: the page's word
        refused = instance.tags.get(self.settings.status_tag_key) == Reason.UNSUPPORTED_INSTANCE_TYPE
        if verdict == Verdict.UNSUPPORTED or (
            verdict == Verdict.ASK_AWS and (self._documented_unsupported(instance) or refused)
        ):
            return Reason.UNSUPPORTED_INSTANCE_TYPE
        return ""

    def _session_problem(self, eni: AttachedEni) -> str | None:
        """Whether a session of ours on the ENI receives its packets, as read: None without one, "" when it does,
        else why not (its filter or target gone, its target dead, unreachable or dropping the ENI's copies, or a
        session not ours ahead of it)."""
        managed = self._managed_on(eni.eni_id)
        if not managed:
            return None
        session = managed[0]  # the lowest number: evaluated first
        existing = self.inventory.existing_filter_ids
        if existing is not None and session.filter_id not in existing:
            return Reason.FILTER_MISSING
        if self._shadowed(eni.eni_id, session.session_number, session.filter_id):
            return Reason.SHADOWED_BY_OTHER_SESSION
        return self._receives_nothing(eni, session) or ""

    def _verdict(self, instance: Instance) -> Verdict:
        verdict = self.inventory.type_verdicts.get(instance.instance_type, Verdict.ASK_AWS)
        if verdict == Verdict.ASK_AWS and not self.settings.probe_unlisted_types:
            return Verdict.UNSUPPORTED  # probing off: only listed types are mirrored
        return verdict

    def _reason_to_unmirror(self, instance: Instance, tagged: bool, finding: bool, verdict: Verdict) -> str | None:
        """None when the instance should be mirrored; "keep" to leave its sessions as they are; else a reason.
        ``tagged``: its owner selects it; ``finding``: a finding's window is open (it selects by itself)."""
        if instance.state in TERMINATED_STATES:
            return Reason.INSTANCE_TERMINATED
        if not finding and not tagged:
            if self._finding_window_ended(instance):
                return Reason.EXPIRED  # the finding's window ended, and its owner never asked
            # A status tag says we mirrored it once; without one, nobody asked (a session made by hand).
            has_status = self.settings.status_tag_key in instance.tags
            return Reason.TAG_REMOVED if has_status else Reason.INSTANCE_NOT_TAGGED
        window = None if finding else mirroring_window(instance, self.settings, self.inventory.read_at)
        if window is not None:
            return window  # expired, or a mirror-until nobody can read: not mirrored, and the status says why
        if instance.state in STOPPED_STATES:
            return Reason.INSTANCE_STOPPED if self.settings.delete_when_stopped else "keep"
        if instance.state != "running":
            return "keep"  # pending: a running event follows; nothing to create or delete yet
        if verdict == Verdict.UNSUPPORTED:
            return Reason.UNSUPPORTED_INSTANCE_TYPE
        if verdict == Verdict.ASK_AWS and self._documented_unsupported(instance) and self._has_sessions(instance):
            # Not asked yet, and AWS's page says no (e.g. its type was changed to T2): the sessions bill and likely
            # mirror nothing; delete them. Without sessions it is asked of AWS like any unlisted type.
            return Reason.UNSUPPORTED_INSTANCE_TYPE
        return None

    def _finding_window_ended(self, instance: Instance) -> bool:
        end = finding_window_end(instance, self.settings)
        return end is not None and end <= self.inventory.read_at

    def _documented_unsupported(self, instance: Instance) -> bool:
        allow, deny = self.settings.eligibility_allow, self.settings.eligibility_deny
        return listed_verdict(instance.instance_type, allow, deny) == Verdict.UNSUPPORTED

    def _has_sessions(self, instance: Instance) -> bool:
        return any(self._managed_on(eni.eni_id) for eni in instance.enis)

    def _override_refusal(self, instance: Instance) -> str | None:
        """Tagging rights are not capture rights: an override may only pick what the operator approved."""
        target = instance.tags.get(self.settings.target_override_tag_key)
        if target and target not in self.pool and (self.targets is not None or not self.settings.target_pool):
            # (Discovery on and targets not read: whether a discovered target is in the pool is unknown.)
            return Reason.TARGET_NOT_APPROVED
        mirror_filter = instance.tags.get(self.settings.filter_override_tag_key)
        if mirror_filter and mirror_filter not in self.settings.approved_filters():
            return Reason.FILTER_NOT_APPROVED
        if not self.settings.packet_length_wanted(instance.tags)[1]:
            return Reason.PACKET_LENGTH_NOT_APPROVED
        if self.settings.vni_policy == VNI_POLICY_PER_INSTANCE_TAG and instance_vni(instance, self.settings) is None:
            return Reason.VNI_UNREADABLE  # its VNI cannot be known: nothing new, what exists stays
        return None

    def _status(self, instance: Instance, plan: SubjectPlan, asked: bool, unmirror: str | None) -> str | None:
        """``asked``: its owner selects it or a finding's window is open. An instance nobody asks for any more
        carries no status, also when a finding's window just ended: as its owner left it."""
        if unmirror is None:
            told = [s.reason for s in plan.skips if s.reason not in _SILENT_SKIPS]
            return told[0] if told else Reason.MIRRORED
        if unmirror == Reason.UNSUPPORTED_INSTANCE_TYPE:
            return unmirror
        if not asked:
            return CLEAR_STATUS if instance.state not in TERMINATED_STATES else None
        if unmirror in (Reason.EXPIRED, Reason.UNTIL_UNREADABLE):
            return unmirror
        if instance.state in STOPPED_STATES:
            return Reason.INSTANCE_STOPPED
        return None

    def _plan_mirrored_eni(
        self, instance: Instance, eni: AttachedEni, managed: list[MirrorSession], plan: SubjectPlan, probe: bool
    ) -> str:
        """``probe``: the instance's type is to be asked of AWS (and this instance asks). Returns why the plan leaves
        the ENI without a session of ours that receives its packets ("" when it leaves it mirrored)."""
        desired_filter = instance.tags.get(self.settings.filter_override_tag_key) or self.settings.filter_id
        candidates = candidate_targets(instance, self.settings, self.targets)
        existing_filters = self.inventory.existing_filter_ids

        keep, duplicates = (managed[0], managed[1:]) if managed else (None, [])
        plan.deletes.extend(DeleteSession(instance.instance_id, s, Reason.DUPLICATE_SESSION) for s in duplicates)

        if keep is not None and existing_filters is not None and keep.filter_id not in existing_filters:
            plan.deletes.append(DeleteSession(instance.instance_id, keep, Reason.FILTER_MISSING))
            keep = None
        # Created under another type, and AWS has not judged this one: only a create asks AWS. Delete first, then
        # create (the executor's order): whatever AWS answers, the old session must go (replaced, or its source
        # refused), and a probe beside it would need a free slot on the ENI. The copies pause for the moment between
        # the two calls, once per type change. A new number: a create right after the delete must not depend on AWS
        # having freed the old one. Without a target for the new session, the old one stays as it is.
        if (
            keep is not None
            and probe
            and type_changed(keep, instance, self.settings)
            and self._plan_new_session(instance, eni, desired_filter, candidates, plan, replacing=keep, probe=True)
        ):
            return ""
        if keep is not None:
            shadowed = self._shadowed(eni.eni_id, keep.session_number, desired_filter)
            if shadowed:
                # Kept (the other session is the problem, and may go), but it receives nothing: say so.
                plan.skips.append(Skip(instance.instance_id, eni.eni_id, Reason.SHADOWED_BY_OTHER_SESSION))
            kept = self._plan_kept_session(instance, eni, keep, candidates, desired_filter, plan)
            return Reason.SHADOWED_BY_OTHER_SESSION if shadowed else kept
        if self._plan_new_session(instance, eni, desired_filter, candidates, plan, probe=probe):
            return ""
        return next(s.reason for s in reversed(plan.skips) if s.eni_id == eni.eni_id)

    def _plan_new_session(
        self,
        instance: Instance,
        eni: AttachedEni,
        desired_filter: str,
        candidates: Sequence[str],
        plan: SubjectPlan,
        replacing: MirrorSession | None = None,
        probe: bool = False,
    ) -> bool:
        """Plan a create on the ENI (after deleting ``replacing``); False when none is possible (then the ENI's skip
        says why, unless a session is being replaced: it stays as it is).

        A ``probe`` (the create that asks AWS about the instance's type) takes no slot from the asks planned after
        it: asks come last (``plan``), and one AWS refuses frees its slot at once, so the next ask may try the same
        slot in the same run; one AWS accepts fills it, and the next ask finds the target full (its status says
        so). Reserved, the slot of each refused ask waited for the second pass, which settles one ask more only:
        with asks of several types, an instance of a supported type stayed ``no-target-capacity`` beside a free
        slot (found by tests/properties)."""
        eni_id = eni.eni_id
        gone = [*plan_deleted(plan), *([replacing] if replacing else [])]
        on_eni = [s for s in self.sessions_by_eni[eni_id] if s not in gone]
        if len(on_eni) >= SESSIONS_PER_ENI:
            if replacing is None:
                plan.skips.append(Skip(instance.instance_id, eni_id, Reason.ENI_SESSION_LIMIT))
            return False
        taken = tuple(sorted({s.session_number for s in self.sessions_by_eni[eni_id]}))
        number = lowest_free_session_number(taken)
        if number is not None and self._shadowed(eni_id, number, desired_filter):
            if replacing is None:
                # A probe that cannot be made leaves AWS's page the only word on the type: when the page refuses it,
                # that is why the ENI is not mirrored, not the session ahead (found by tests/properties).
                refused = probe and self._documented_unsupported(instance)
                why = Reason.UNSUPPORTED_INSTANCE_TYPE if refused else Reason.SHADOWED_BY_OTHER_SESSION
                plan.skips.append(Skip(instance.instance_id, eni_id, why))
            return False  # it would bill and receive nothing
        ranked = self._rank(candidates, eni, instance.availability_zone)
        if number is None or not ranked:
            if replacing is None:
                plan.skips.append(Skip(instance.instance_id, eni_id, self._why_no_target(instance, candidates, eni)))
            return False
        if replacing is not None:
            plan.deletes.append(DeleteSession(instance.instance_id, replacing, Reason.INSTANCE_TYPE_CHANGED))
        if not probe:
            self.usage.add(ranked[0], eni_id)
        options = wanted_options(instance, eni, self.settings, self.vnis_by_vpc)
        plan.creates.append(
            CreateSession(
                instance.instance_id,
                eni_id,
                number,
                desired_filter,
                ranked,
                taken,
                packet_length=options.packet_length,
                virtual_network_id=options.virtual_network_id,
                instance_type=instance.instance_type,
            )
        )
        return True

    def _shadowed(self, eni_id: str, number: int, filter_id: str) -> bool:
        """Whether a session not ours, with a lower number on the ENI, takes every packet a session of ours with this
        number and filter would get. Claimed only on proof (``shadows``): filters not read prove nothing."""
        filters = self.inventory.filters or {}
        ours = filters.get(filter_id)
        for other in self.sessions_by_eni.get(eni_id, []):
            if self.settings.owns(other) or other.session_number >= number:
                continue
            ahead = filters.get(other.filter_id)
            if other.filter_id == filter_id or (ahead is not None and ours is not None and shadows(ahead, ours)):
                return True
        return False

    def _rank(self, candidates: Sequence[str], eni: AttachedEni, zone: str) -> tuple[str, ...]:
        """The candidates this ENI's VPC can reach and that do not drop its copies, best first (see
        placement.rank_targets). A target with only advisories (a risk, not a loss) is used."""
        known = self.targets or {}
        usable = [
            c
            for c in candidates
            if c in known and can_reach(eni.vpc_id, known[c], self.settings) and not self._drops(eni, known[c])
        ]
        return rank_targets(usable, known, self.usage, eni.eni_id, zone, eni.vpc_id)

    def _findings(self, eni: AttachedEni, target: MirrorTarget) -> tuple[Finding, ...]:
        """What preflight finds about this ENI's copies to the target, judged by the ENI's primary private IP address
        (their outer source address). Nothing when the target has nothing to judge or the address was not read.
        Judged once per target and address."""
        if target.ingress is None or not eni.private_ip:
            return ()
        judge = self._judges.get(target.target_id)
        if judge is None:
            judge = self._judges[target.target_id] = IngressJudge(target.ingress)
        return judge.judge(eni.private_ip)

    def _drops(self, eni: AttachedEni, target: MirrorTarget) -> bool:
        """Proof that the target drops this ENI's copies, unless the operator vouches for it (TrustedTargets)."""
        return not self.settings.trusts(target.target_id) and any(
            f.grade == Grade.DROPS for f in self._findings(eni, target)
        )

    def _why_no_target(self, instance: Instance, candidates: Sequence[str], eni: AttachedEni) -> str:
        known = self.targets or {}
        if instance.tags.get(self.settings.target_override_tag_key) and not any(c in known for c in candidates):
            return Reason.TARGET_OVERRIDE_NOT_FOUND
        if not candidates:
            return Reason.POOL_EMPTY
        existing = [known[c] for c in candidates if c in known]
        if not existing:
            return Reason.POOL_TARGET_NOT_FOUND
        if not any(t.live for t in existing):
            return Reason.NO_LIVE_TARGET
        reachable = [t for t in existing if t.live and can_reach(eni.vpc_id, t, self.settings)]
        if not reachable:
            return Reason.NO_REACHABLE_TARGET
        if all(self._drops(eni, t) for t in reachable):
            return Reason.NO_HEALTHY_TARGET
        return Reason.NO_TARGET_CAPACITY

    def _plan_kept_session(
        self,
        instance: Instance,
        eni: AttachedEni,
        session: MirrorSession,
        candidates: Sequence[str],
        desired_filter: str,
        plan: SubjectPlan,
    ) -> str:
        """Plan what a kept session needs (a move, a filter, options); returns why the plan leaves it receiving
        nothing ("" when it receives the ENI's packets after the plan, as far as the targets say)."""
        known = self.targets
        problem = self._target_problem(eni, session, candidates)
        new_filter = desired_filter if session.filter_id != desired_filter else None
        options = option_changes(session, wanted_options(instance, eni, self.settings, self.vnis_by_vpc), known)
        if problem is None and new_filter is None and options is None:
            return ""
        left = ""  # why the session receives nothing after the plan
        ranked: tuple[str, ...] = ()
        # Changed options ride along with a move or a filter switch: one modify, the session kept.
        reason: str = Reason.FILTER_CHANGED if new_filter is not None else Reason.OPTIONS_CHANGED
        if problem is not None:
            reason = problem
            ranked = self._rank(candidates, eni, instance.availability_zone)
            if not ranked:
                if problem in _RECEIVES_NOTHING:
                    # It mirrors nothing while AWS keeps billing it: delete it, and say so.
                    plan.deletes.append(DeleteSession(instance.instance_id, session, problem))
                    plan.skips.append(Skip(instance.instance_id, session.eni_id, _RECEIVES_NOTHING[problem]))
                    return _RECEIVES_NOTHING[problem]
                why = self._why_no_target(instance, candidates, eni)
                plan.skips.append(Skip(instance.instance_id, session.eni_id, why))
                # Left where it is: on a retired target it still mirrors; on one that drops its copies, it does not.
                left = why if self._receives_nothing(eni, session) else ""
                if new_filter is None and options is None:
                    return left
                reason = Reason.FILTER_CHANGED if new_filter is not None else Reason.OPTIONS_CHANGED
            else:
                self.usage.add(ranked[0], session.eni_id)
        plan.updates.append(
            UpdateSession(
                instance.instance_id,
                session,
                ranked,
                new_filter,
                reason,
                packet_length=options.packet_length if options else None,
                virtual_network_id=options.virtual_network_id if options else None,
                remove_fields=options.remove_fields if options else (),
            )
        )
        return left

    def _receives_nothing(self, eni: AttachedEni, session: MirrorSession) -> Reason | None:
        """Why the session's target receives nothing from this ENI (None when it may, or when the targets were not
        read): it is missing or dead, the ENI's VPC cannot reach it, or it drops the ENI's copies (preflight)."""
        known = self.targets
        if known is None:
            return None  # targets not read: not judged
        current = known.get(session.target_id)
        if current is None:
            return Reason.TARGET_MISSING
        if not current.live:
            return Reason.TARGET_DEAD
        if not can_reach(eni.vpc_id, current, self.settings):
            return Reason.TARGET_UNREACHABLE
        if self._drops(eni, current):
            return Reason.TARGET_UNHEALTHY  # moved when a healthy target has room, else left: never deleted for it
        return None

    def _target_problem(self, eni: AttachedEni, session: MirrorSession, candidates: Sequence[str]) -> Reason | None:
        """What the plan must do about a kept session's target: missing or dead first, then retired from the pool
        (moved when another has room), then unreachable or dropping; None when it is fine or targets were not read."""
        problem = self._receives_nothing(eni, session)
        if problem in (Reason.TARGET_MISSING, Reason.TARGET_DEAD) or self.targets is None:
            return problem
        if session.target_id not in candidates:
            return Reason.TARGET_RETIRED
        return problem

    # -- sessions no scoped instance accounts for --------------------------------------------------------------
    def _plan_orphans(self, instance_enis: set[str]) -> None:
        for eni_id, sessions in sorted(self.sessions_by_eni.items()):
            if eni_id in instance_enis:
                continue
            for session in sessions:
                if not self.settings.owns(session):
                    continue
                reason = self._orphan_reason(session)
                if reason is None:
                    continue
                subject = session.tags.get(self.settings.instance_tag_key) or eni_id
                self.result.for_subject(subject).deletes.append(DeleteSession(subject, session, reason))

    def _orphan_reason(self, session: MirrorSession) -> str | None:
        """Why a managed session on an ENI outside every scoped instance must go; None to leave it alone."""
        attachments = self.inventory.eni_attachments
        named = self.inventory.instances.get(session.tags.get(self.settings.instance_tag_key, ""))
        if session.eni_id in self.inventory.deleted_eni_ids:
            return Reason.SOURCE_ENI_DELETED
        if session.eni_id not in attachments:
            return None  # read only for target usage
        owner = attachments[session.eni_id]
        if owner is None:
            if named is not None and named.state in TERMINATED_STATES:
                return Reason.INSTANCE_TERMINATED
            return Reason.SOURCE_ENI_DETACHED
        if owner in self.inventory.missing_instance_ids:
            return Reason.INSTANCE_NOT_FOUND
        # Attached to an instance in scope (planned with it) or outside it (not ours to judge in this plan).
        return None

    def _managed_on(self, eni_id: str) -> list[MirrorSession]:
        managed = [s for s in self.sessions_by_eni.get(eni_id, []) if self.settings.owns(s)]
        # Keep the lowest session number (it is evaluated first); the others are duplicates.
        return sorted(managed, key=lambda s: (s.session_number, s.session_id))


def plan_deleted(plan: SubjectPlan) -> list[MirrorSession]:
    return [d.session for d in plan.deletes]


def _may_be_source(interface_type: str, managed_by_service: str | None) -> bool:
    """AWS: only ENIs of type ``interface``; a service-managed one only when Amazon RDS or ElastiCache made it."""
    if interface_type != "interface":
        return False
    return managed_by_service is None or managed_by_service in SERVICES_WHOSE_ENIS_ARE_SOURCES


def _with_declared_limits(
    targets: Mapping[str, MirrorTarget] | None, settings: Settings
) -> Mapping[str, MirrorTarget] | None:
    """The operator's TargetSourceLimits win for ENI targets (e.g. an appliance shared from another account)."""
    if targets is None or not settings.target_source_limits:
        return targets
    return {
        target_id: replace(target, capacity=settings.target_source_limits[target_id])
        if target.kind == TARGET_KIND_ENI and target_id in settings.target_source_limits
        else target
        for target_id, target in targets.items()
    }


def _unique(sessions: Sequence[MirrorSession]) -> list[MirrorSession]:
    return list({s.session_id: s for s in sessions}.values())
