"""A declared setting gives its default when its variable is unset or blank, or refuses a required one by name; the
settings classes' defaults are the loaders' (one declaration for both)."""

import pytest

from traffic_mirroring.config import Settings, load_settings
from traffic_mirroring.deploy_check import DECLARED
from traffic_mirroring.errors import ConfigurationError
from traffic_mirroring.incident import IncidentSettings, load_incident_settings
from traffic_mirroring.lifecycle import LifecycleSettings, load_lifecycle_settings


@pytest.mark.parametrize("variable", sorted(DECLARED))
def test_unset_or_blank_gives_the_default_or_names_the_required_variable(variable: str) -> None:
    declared = DECLARED[variable]
    for unset in ({}, {variable: ""}, {variable: "  "}):
        if declared.required:
            with pytest.raises(ConfigurationError, match=f"^{variable} is required but not set$"):
                declared.read(unset)
        else:
            assert declared.read(unset) == declared.default_value()


def test_the_classes_defaults_are_the_loaders() -> None:
    assert load_settings({"FILTER_ID": "tmf-1"}) == Settings(filter_id="tmf-1")
    assert load_incident_settings({"GUARDDUTY_MIN_SEVERITY": "7"}) == IncidentSettings(min_severity=7)
    assert load_lifecycle_settings({}) == LifecycleSettings()


def test_the_first_refusal_is_the_first_field_s() -> None:
    # The loaders read the fields in order: with two bad values, the message names the earlier field's variable.
    with pytest.raises(ConfigurationError, match="^TARGET_IDS"):
        load_settings({"TARGET_IDS": "tmt 1", "MAX_DELETE_PERCENT": "150"})
