"""Small record classes without ``dataclasses``: equality, ``repr``, a copy with some
fields changed and a dict, all from the class's ``__slots__`` (importing ``dataclasses``
brings ``inspect``, ``ast``, ``dis`` and ``tokenize``: milliseconds on a session's way)."""

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, Self, Tuple


class Value:
    """A base for classes whose ``__slots__`` are their fields, in the order of their
    ``repr`` (hence not sorted: ``noqa: RUF023``)."""

    __slots__ = ()

    def _values(self) -> "Tuple[Any, ...]":
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes: "Any") -> "Self":
        """A copy with the fields named in *changes* set to their new values."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {min(unknown)!r}")
        copy = object.__new__(type(self))
        for name in self.__slots__:
            setattr(copy, name, changes[name] if name in changes else getattr(self, name))
        return copy

    def as_dict(self) -> "Dict[str, Any]":
        return {name: getattr(self, name) for name in self.__slots__}
