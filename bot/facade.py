"""A facade's method that is one of its parts' methods, declared instead of written out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

_P = ParamSpec("_P")
_R = TypeVar("_R")


class PartMethod(Generic[_P, _R]):
    """``swap = PartMethod("_proposals", Proposals.swap)`` in a class body makes
    ``obj.swap(...)`` call ``obj._proposals.swap(...)``, with the part's signature (mypy checks
    the calls) and docstring, instead of a forwarding method that writes the signature out
    again. Used by services that combine parts (coffee chats' ``MatchingService``) or hand a
    query straight to their repository."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, _P], _R]) -> None:
        self._part = part
        self._name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[_P, _R]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Self | Callable[_P, _R]:
        if obj is None:
            return self
        method: Callable[_P, _R] = getattr(getattr(obj, self._part), self._name)
        return method
