"""The stack as coredumpy records it for a dump, within bounds; and what a loaded dump
brings back in place of what the bounds left out.

Imported only to write or to open a dump: it imports coredumpy (never at start-up).
"""

import base64
import io
import itertools
import os
import sys
import threading
import types
from types import FrameType, TracebackType
from typing import Any, Dict, List, Optional, Tuple

# coredumpy runs ``conf_coredumpy.py`` from the working directory when it is imported;
# in a shared directory that file could be anybody's.  Its hook is put aside first.
if "coredumpy" not in sys.modules:
    _no_conf = types.ModuleType("coredumpy.conf_hook")
    _no_conf.startup_conf = lambda: None  # type: ignore[attr-defined]
    sys.modules.setdefault("coredumpy.conf_hook", _no_conf)

import coredumpy  # after the hook above
from coredumpy import TypeSupportBase
from coredumpy.types import builtin_types

# -- the bounds -----------------------------------------------------------------------

DEPTH = 8  # levels of objects kept below a frame's local variables (coredumpy's default)
MAX_ITEMS = 1000  # items kept of one list, tuple, set or dict (a frame's namespaces: all)
MAX_OBJECTS = 200_000  # objects recorded in one dump, about; then the walk stops
MAX_STRING = 10_000  # characters (bytes) kept of one str (bytes)
MAX_TENSOR = 64 << 20  # bytes of one tensor's values
MAX_PAYLOAD = 256 << 20  # bytes of tensor values and string characters in one dump
MAX_INT_BITS = 14_000  # about 4,200 digits: Python converts at most 4,300 to text

OMITTED = "pydebug_hook.omitted"  # the type name of a stand-in in the file


class Omitted:
    """In a loaded dump: what was not saved there, and why (``<not saved: ...>``)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<not saved: {self.what}>"


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"  # unreachable


class _Budget:
    """What one dump may still record, and what it left out."""

    def __init__(self) -> None:
        self.objects = MAX_OBJECTS
        self.payload = MAX_PAYLOAD
        self.whole: set = set()  # ids of the frames' own namespaces: never cut
        self.markers: List[Omitted] = []  # alive until the dump ends: coredumpy keys objects by id()
        self.left_out: Dict[str, int] = {}
        self.stopped = False

    def note(self, what: str, count: int = 1) -> None:
        self.left_out[what] = self.left_out.get(what, 0) + count

    def spend(self, n: int) -> None:
        self.objects -= n
        if self.objects <= 0 and not self.stopped:
            # coredumpy checks its time limit after each level of its walk: the level
            # being recorded is finished, and the walk ends there.
            self.stopped = True
            coredumpy.config.dump_timeout = 0
            self.note("walk stopped at the object limit")

    def marker(self, what: str) -> Omitted:
        mark = Omitted(what)
        self.markers.append(mark)
        return mark


_budget: Optional[_Budget] = None  # set while a dump runs (one at a time: _lock)
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # A dump given up on may still run in a thread of the parent, holding the lock: the
    # child has no such thread.
    global _budget, _lock
    _budget, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _keep(total: int, obj: Any) -> int:
    """How many items of a container of *total* items are recorded (each costs one
    object of the budget; a frame's own namespaces are kept whole)."""
    budget = _budget
    if budget is None:
        return total
    budget.spend(1)
    if id(obj) in budget.whole:
        return total
    keep = min(total, MAX_ITEMS, max(budget.objects, 0))
    budget.spend(keep)
    if keep < total:
        budget.note("containers cut")
    return keep


def _counted() -> None:
    if _budget is not None:
        _budget.spend(1)


def _marked(obj: Any, items: list, keep: int, kind: str) -> list:
    assert _budget is not None
    return [*items, _budget.marker(f"{len(obj) - keep:,} more items of this {kind} of {len(obj):,}")]


def _ids(items: list) -> List[str]:
    return [str(id(item)) for item in items]


# -- coredumpy type supports with the bounds (they replace coredumpy's own for these types;
# outside a dump, they do what coredumpy's do)


class _BoundedList(builtin_types.ListSupport):
    @classmethod
    def dump(cls, obj: list) -> Tuple[dict, Optional[list]]:
        keep = _keep(len(obj), obj)
        if keep == len(obj):
            return super().dump(obj)
        items = _marked(obj, list(obj[:keep]), keep, "list")
        return {"type": "list", "value": _ids(items)}, items


class _BoundedTuple(builtin_types.TupleSupport):
    @classmethod
    def dump(cls, obj: tuple) -> Tuple[dict, Optional[list]]:
        keep = _keep(len(obj), obj)
        if keep == len(obj):
            return super().dump(obj)
        items = _marked(obj, list(obj[:keep]), keep, "tuple")
        return {"type": "tuple", "value": _ids(items)}, items


class _BoundedSet(builtin_types.SetSupport):
    @classmethod
    def dump(cls, obj: set) -> Tuple[dict, Optional[list]]:
        keep = _keep(len(obj), obj)
        if keep == len(obj):
            return super().dump(obj)
        items = _marked(obj, list(itertools.islice(obj, keep)), keep, "set")
        return {"type": "set", "value": _ids(items)}, items


class _BoundedFrozenset(builtin_types.FrozensetSupport):
    @classmethod
    def dump(cls, obj: frozenset) -> Tuple[dict, Optional[list]]:
        keep = _keep(len(obj), obj)
        if keep == len(obj):
            return super().dump(obj)
        items = _marked(obj, list(itertools.islice(obj, keep)), keep, "frozenset")
        return {"type": "frozenset", "value": _ids(items)}, items


class _BoundedDict(builtin_types.DictSupport):
    @classmethod
    def dump(cls, obj: dict) -> Tuple[dict, Optional[list]]:
        keep = _keep(len(obj), obj)
        if keep == len(obj):
            return super().dump(obj)
        pairs = list(itertools.islice(obj.items(), keep))
        assert _budget is not None
        pairs.append((_budget.marker(f"{len(obj) - keep:,} more items of this dict of {len(obj):,}"), None))
        value = {str(id(k)): str(id(v)) for k, v in pairs}
        return {"type": "dict", "value": value}, [x for pair in pairs for x in pair]


def _collections_type(name: str) -> Any:
    return getattr(sys.modules.get("collections"), name, None)


# OrderedDict, defaultdict, Counter: coredumpy would keep their attributes, not their
# items; they are saved (and load) as dicts.
for _name in ("OrderedDict", "defaultdict", "Counter"):
    type(
        f"_Bounded{_name}",
        (_BoundedDict,),
        {"get_type": classmethod(lambda cls, name=_name: ((lambda: _collections_type(name)), "dict"))},
    )


class _BoundedStr(builtin_types.StrSupport):
    @classmethod
    def dump(cls, obj: str) -> Tuple[dict, Optional[list]]:
        _counted()
        data, more = super().dump(obj)  # coredumpy's redaction of secrets comes first
        text = data.get("value")
        budget = _budget
        if budget is not None and isinstance(text, str):
            limit = min(MAX_STRING, max(budget.payload, 200))
            if len(text) > limit:
                data["value"] = text[:limit] + f"... [{len(text) - limit:,} more characters not saved]"
                budget.note("strings cut")
            budget.payload -= min(len(text), limit)
        return data, more


class _BoundedBytes(builtin_types.BytesSupport):
    @classmethod
    def dump(cls, obj: bytes) -> Tuple[dict, Optional[list]]:
        _counted()
        budget = _budget
        if budget is not None:
            limit = min(MAX_STRING, max(budget.payload, 200))
            if len(obj) > limit:
                budget.note("bytes cut")
                obj = obj[:limit] + f"... [{len(obj) - limit:,} more bytes not saved]".encode()
            budget.payload -= len(obj)
        return super().dump(obj)


class _BoundedInt(builtin_types.IntSupport):
    @classmethod
    def dump(cls, obj: int) -> Tuple[dict, Optional[list]]:
        _counted()
        if obj.bit_length() > MAX_INT_BITS:  # JSON would fail on it: Python's int/str limit
            return {"type": OMITTED, "value": f"an int of {obj.bit_length():,} bits"}, None
        return super().dump(obj)


class _OmittedSupport(TypeSupportBase):
    @classmethod
    def get_type(cls) -> Tuple[type, str]:
        return Omitted, OMITTED

    @classmethod
    def dump(cls, obj: Omitted) -> Tuple[dict, Optional[list]]:
        return {"type": OMITTED, "value": obj.what}, None

    @classmethod
    def load(cls, data: dict, objects: dict) -> Tuple[Any, Optional[list]]:
        return Omitted(str(data.get("value"))), None


def _torch_type(module: str, name: str) -> Any:
    found = sys.modules.get(module)  # never imports torch: a program without it has no tensors
    return getattr(found, name, None) if found is not None else None


def _dump_tensor(obj: Any) -> Tuple[dict, Optional[list]]:
    budget = _budget
    try:
        import torch

        tensor = obj.detach()
        what = f"tensor of shape {tuple(tensor.shape)}, {tensor.dtype}, on {tensor.device}"
        size = tensor.numel() * tensor.element_size()
        limit = size if budget is None else min(MAX_TENSOR, budget.payload)
        if size > limit:
            if budget is not None:
                budget.note("tensors not saved")
            left = "the dump's limit is spent" if limit < MAX_TENSOR else f"over the {_size(MAX_TENSOR)} limit"
            return {"type": OMITTED, "value": f"{what}: {_size(size)}, {left}"}, None
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()  # a dump opens on machines without that device
        if tensor.layout == torch.strided and (
            tensor.storage_offset() or tensor.untyped_storage().nbytes() > size
        ):
            tensor = tensor.clone()  # a view: its own values, not the whole storage it looks into
        buffer = io.BytesIO()
        torch.save(tensor, buffer)
        if budget is not None:
            budget.payload -= buffer.tell()
        return {"type": "torch.Tensor", "value": base64.b64encode(buffer.getvalue()).decode()}, None
    except Exception as error:  # meta/fake tensors, a CUDA device in error, ...
        kind = type(obj).__name__
        return {"type": OMITTED, "value": f"{kind} that could not be copied ({type(error).__name__}: {error})"[:500]}, None


def _load_tensor(data: dict) -> Any:
    try:
        import torch
    except ImportError:
        return Omitted("a tensor: torch is not installed where this dump is opened")
    try:
        raw = base64.b64decode(data["value"])
        return torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except Exception as error:
        return Omitted(f"a tensor that could not be read ({type(error).__name__}: {error})")


class _TensorSupport(TypeSupportBase):
    @classmethod
    def get_type(cls) -> Tuple[Any, str]:
        return (lambda: _torch_type("torch", "Tensor")), "torch.Tensor"

    @classmethod
    def dump(cls, obj: Any) -> Tuple[dict, Optional[list]]:
        return _dump_tensor(obj)

    @classmethod
    def load(cls, data: dict, objects: dict) -> Tuple[Any, Optional[list]]:
        return _load_tensor(data), None


class _ParameterSupport(_TensorSupport):
    """``nn.Parameter`` (a subclass: coredumpy looks types up exactly) saved as its tensor."""

    @classmethod
    def get_type(cls) -> Tuple[Any, str]:
        return (lambda: _torch_type("torch.nn.parameter", "Parameter")), "torch.Tensor"


# -- the stack -------------------------------------------------------------------------


class _Frame:
    """One entry of the stack as a session shows it, recorded as coredumpy records a
    frame: coredumpy keeps an object it has no support for as its public attributes under
    its type's name, so this one is saved, and loads, as a ``frame``.

    Why not the real frames: coredumpy walks ``f_back``, and a post-mortem's stack is
    the traceback's (what ``where`` shows in a session): a finished generator's or
    coroutine's frame has no ``f_back``, and a frame that went on running after the
    exception passed through it is no longer at that line.
    """

    def __init__(self, frame: FrameType, lineno: int, back: Optional["_Frame"]) -> None:
        self.f_back = back
        self.f_code = frame.f_code
        self.f_globals = frame.f_globals
        self.f_builtins = frame.f_builtins
        local = frame.f_locals
        # a snapshot: on 3.13+ f_locals is a live view (module level: the globals themselves)
        self.f_locals = local if local is frame.f_globals else dict(local)
        self.f_lineno = lineno
        self.f_lasti = frame.f_lasti
        self.f_trace = None


_Frame.__module__ = "builtins"
_Frame.__qualname__ = _Frame.__name__ = "frame"


def stack(tb: Optional[TracebackType], frame: Optional[FrameType]) -> Optional[_Frame]:
    """The innermost entry of the stack: the traceback's frames at their lines (a
    post-mortem), or *frame* and its callers (a live breakpoint)."""
    entries: List[Tuple[FrameType, int]] = []
    if tb is not None:
        while tb is not None:
            entries.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
    else:
        while frame is not None:
            entries.append((frame, frame.f_lineno))
            frame = frame.f_back
        entries.reverse()
    innermost = None
    for f, line in entries:
        innermost = _Frame(f, line if line is not None else f.f_lineno, innermost)
    return innermost


def record(innermost: _Frame, description: str, time_limit: float) -> Tuple[str, Dict[str, int]]:
    """coredumpy's JSON of the stack ending at *innermost*, within the bounds; and what
    the bounds left out (counts by kind)."""
    global _budget
    config = coredumpy.config
    if not _lock.acquire(timeout=time_limit):
        raise TimeoutError("an earlier dump of this process is still being written")
    try:
        saved = config.dump_all_threads, config.dump_timeout
        budget = _Budget()
        entry: Optional[_Frame] = innermost
        while entry is not None:
            budget.whole.update((id(entry.f_globals), id(entry.f_locals), id(entry.f_builtins)))
            entry = entry.f_back
        _budget = budget
        try:
            config.dump_all_threads = False  # the failing stack; other threads' are not ours to keep
            config.dump_timeout = max(1, int(time_limit))  # coredumpy stops after the level that passes it
            text = coredumpy.dumps(innermost, description=description, depth=DEPTH)
        finally:
            _budget = None
            config.dump_all_threads, config.dump_timeout = saved
    finally:
        _lock.release()
    return text, budget.left_out


def version() -> str:
    return str(getattr(coredumpy, "__version__", "?"))


def load_data(path: str) -> Dict[str, Any]:
    """coredumpy's reading of a dump file: its objects rebuilt, ``frame`` the innermost."""
    return coredumpy.Coredumpy.load_data_from_path(path)
