from __future__ import annotations

import pytest

from traffic_mirroring.observability import Untraced, tracing_enabled


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", " on "])
def test_tracing_is_off_when_powertools_is_told_so(value: str) -> None:
    assert not tracing_enabled({"POWERTOOLS_TRACE_DISABLED": value})


@pytest.mark.parametrize("environ", [{}, {"POWERTOOLS_TRACE_DISABLED": "false"}, {"POWERTOOLS_TRACE_DISABLED": "0"}])
def test_tracing_is_on_unless_disabled(environ: dict[str, str]) -> None:
    assert tracing_enabled(environ)


def test_untraced_decorator_returns_the_handler_itself() -> None:
    def handler(event: object, context: object) -> str:
        return "done"

    assert Untraced().capture_lambda_handler(capture_response=False)(handler) is handler
    assert Untraced().capture_lambda_handler(handler) is handler
