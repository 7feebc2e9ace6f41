"""Settings from environment variables, validated once per container.

Every problem names the variable, so a bad deployment fails at cold start with a message an operator can act on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from traffic_mirroring.errors import ConfigurationError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """What the stack was deployed with. Field names follow the environment variables."""

    target_ids: tuple[str, ...]
    filter_id: str
    mirror_tag_key: str = "mirror"
    mirror_tag_value: str = "true"
    managed_by: str = "traffic-mirroring-automation"
    managed_by_tag_key: str = "mirror-managed-by"
    instance_tag_key: str = "mirror-instance-id"
    target_override_tag_key: str = "mirror-target"
    filter_override_tag_key: str = "mirror-filter"
    status_tag_key: str = "mirror-status"
    delete_when_stopped: bool = True
    eligibility_allow: frozenset[str] = field(default_factory=frozenset)
    eligibility_deny: frozenset[str] = field(default_factory=frozenset)
    target_cache_seconds: int = 300
    session_hourly_price: float = 0.015
    reconcile_dry_run: bool = False
    max_delete_percent: float = 50.0
    force_deletes: bool = False

    def wants_mirroring(self, tags: Mapping[str, str]) -> bool:
        """The mirror tag is present and its value equals the configured one, in any case."""
        value = tags.get(self.mirror_tag_key)
        return value is not None and value.strip().lower() == self.mirror_tag_value.lower()

    def is_managed(self, tags: Mapping[str, str]) -> bool:
        """A session is ours only when it carries our marker tag with our stack's value."""
        return tags.get(self.managed_by_tag_key) == self.managed_by


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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or a given mapping, for tests). Raises ConfigurationError."""
    env = os.environ if env is None else env
    return Settings(
        target_ids=_id_list(env, "TARGET_IDS"),
        filter_id=_text(env, "FILTER_ID"),
        mirror_tag_key=_text(env, "MIRROR_TAG_KEY", "mirror"),
        mirror_tag_value=_text(env, "MIRROR_TAG_VALUE", "true"),
        managed_by=_text(env, "MANAGED_BY", "traffic-mirroring-automation"),
        target_override_tag_key=_text(env, "TARGET_OVERRIDE_TAG_KEY", "mirror-target"),
        filter_override_tag_key=_text(env, "FILTER_OVERRIDE_TAG_KEY", "mirror-filter"),
        status_tag_key=_text(env, "STATUS_TAG_KEY", "mirror-status"),
        delete_when_stopped=_flag(env, "DELETE_WHEN_STOPPED", True),
        eligibility_allow=_name_set(env, "ELIGIBILITY_ALLOW"),
        eligibility_deny=_name_set(env, "ELIGIBILITY_DENY"),
        target_cache_seconds=int(_number(env, "TARGET_CACHE_SECONDS", 300, 0, 86400)),
        session_hourly_price=_number(env, "SESSION_HOURLY_PRICE", 0.015, 0, 100),
        reconcile_dry_run=_flag(env, "RECONCILE_DRY_RUN", False),
        max_delete_percent=_number(env, "MAX_DELETE_PERCENT", 50, 0, 100),
        force_deletes=_flag(env, "FORCE_DELETES", False),
    )
