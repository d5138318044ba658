"""Small registries the features fill when they load: their public services, the repositories
holding personal data, and hooks the core runs. The core knows none of the features."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar, cast

from bot.store.contract import PersonalDataRepository

T = TypeVar("T")


class MissingServiceError(LookupError):
    """A feature asked for another feature's service that was never built."""


class ServiceRegistry:
    """One instance per service class: ``provide(instance)``, ``get(ServiceClass)``."""

    def __init__(self) -> None:
        self._services: dict[type, object] = {}

    def provide(self, instance: object) -> None:
        kind = type(instance)
        if kind in self._services:
            raise ValueError(f"{kind.__name__} is provided twice")
        self._services[kind] = instance

    def find(self, kind: type[T]) -> T | None:
        return cast("T | None", self._services.get(kind))

    def get(self, kind: type[T]) -> T:
        found = self.find(kind)
        if found is None:
            raise MissingServiceError(
                f"{kind.__module__}.{kind.__name__} is not built: build its feature first "
                "(its package's build(app), or load it before the features that use it)"
            )
        return found


class _HasServices(Protocol):
    @property
    def services(self) -> ServiceRegistry: ...


App = TypeVar("App", bound=_HasServices)


def feature_build(kind: type[T]) -> Callable[[Callable[[App], T]], Callable[[App], T]]:
    """Make a feature's ``build(app)`` from the function that wires it: the feature's services
    without Discord (for setup, tools and tests), built once per app. The first call runs the
    wiring and provides the ``kind`` service it returns; later calls return that service, so a
    feature may build the features it uses without building anything twice."""

    def decorate(wire: Callable[[App], T]) -> Callable[[App], T]:
        @functools.wraps(wire)
        def build(app: App) -> T:
            found = app.services.find(kind)
            if found is None:
                found = wire(app)
                app.services.provide(found)
            return found

        return build

    return decorate


class PersonalDataRegistry:
    """Every repository, in registration order: for the data contract, a person's export and
    erasure, and guild purges."""

    def __init__(self) -> None:
        self._repositories: list[object] = []

    def register(self, *repositories: object) -> None:
        for repository in repositories:
            if repository not in self._repositories:
                self._repositories.append(repository)

    def repositories(self) -> list[object]:
        return list(self._repositories)

    def personal(self) -> list[PersonalDataRepository]:
        return personal_repositories(self._repositories)


def personal_repositories(repositories: Iterable[object]) -> list[PersonalDataRepository]:
    """The repositories that hold personal data (a person's export and erasure go to them)."""
    return [
        repo
        for repo in repositories
        if isinstance(repo, PersonalDataRepository) and repo.personal_tables
    ]


class Hooks:
    """What the core runs at given moments; features append to the lists when they load."""

    def __init__(self) -> None:
        #: awaited once after every feature loaded, before the scheduler starts
        self.on_start: list[Callable[[], Awaitable[object]]] = []
        #: awaited before erasing anyone (e.g. write buffered activity so none reappears)
        self.before_erase: list[Callable[[], Awaitable[object]]] = []
        #: called after a guild's data is purged (e.g. to drop cached settings)
        self.on_guild_purged: list[Callable[[int], None]] = []
