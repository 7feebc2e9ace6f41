"""Settings come from the environment, validated once; errors name the variable."""

import pytest

from traffic_mirroring.config import load_settings
from traffic_mirroring.errors import ConfigurationError

BASE = {"TARGET_IDS": "tmt-1, tmt-2,,tmt-1", "FILTER_ID": "tmf-1"}


def test_defaults_work() -> None:
    settings = load_settings(BASE)
    assert settings.target_ids == ("tmt-1", "tmt-2")
    assert settings.mirror_tag_key == "mirror"
    assert settings.delete_when_stopped is True
    assert settings.reconcile_dry_run is False


def test_tag_value_compares_case_insensitively() -> None:
    settings = load_settings(BASE)
    assert settings.wants_mirroring({"mirror": "True"})
    assert settings.wants_mirroring({"mirror": "TRUE"})
    assert not settings.wants_mirroring({"mirror": "false"})
    assert not settings.wants_mirroring({"Mirror": "true"})
    assert not settings.wants_mirroring({})


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"FILTER_ID": ""}, "FILTER_ID"),
        ({"DELETE_WHEN_STOPPED": "maybe"}, "DELETE_WHEN_STOPPED"),
        ({"MAX_DELETE_PERCENT": "150"}, "MAX_DELETE_PERCENT"),
        ({"SESSION_HOURLY_PRICE": "cheap"}, "SESSION_HOURLY_PRICE"),
        ({"TARGET_IDS": "tmt-1,tmt 2"}, "TARGET_IDS"),
        ({"MIRROR_TAG_KEY": "a,b"}, "MIRROR_TAG_KEY"),
    ],
)
def test_bad_variable_is_named(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_settings({**BASE, **overrides})


def test_missing_filter_is_named() -> None:
    with pytest.raises(ConfigurationError, match="FILTER_ID is required"):
        load_settings({"TARGET_IDS": "tmt-1"})
