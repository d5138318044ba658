"""The registries features fill, and ``feature_build`` that makes a feature's build idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.registry import MissingServiceError, ServiceRegistry, feature_build


@dataclass
class _App:
    services: ServiceRegistry = field(default_factory=ServiceRegistry)
    wired: int = 0


class _Service:
    pass


@feature_build(_Service)
def _build(app: _App) -> _Service:
    """Wires the fake feature."""
    app.wired += 1
    return _Service()


def test_feature_build_wires_once_and_provides_what_it_returns() -> None:
    app = _App()
    with pytest.raises(MissingServiceError):
        app.services.get(_Service)
    first = _build(app)
    assert app.services.get(_Service) is first
    assert _build(app) is first
    assert app.wired == 1
    assert _build.__doc__ == "Wires the fake feature."


def test_feature_build_leaves_other_apps_alone() -> None:
    one, two = _App(), _App()
    assert _build(one) is not _build(two)
    assert (one.wired, two.wired) == (1, 1)
