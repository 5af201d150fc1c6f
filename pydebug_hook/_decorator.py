"""``Debugger.attach_on_error()``: the seed's decorator, also a context manager; one more
frame per call, and on an exception the dispatch, then the same exception re-raised."""

import functools
from types import TracebackType
from typing import Any, Callable, Optional, Type, TypeVar, Union, overload

from .core import dispatch

F = TypeVar("F", bound=Callable[..., Any])

# code object flags (inspect.CO_*): inspect itself is too heavy to import for this.
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ITERABLE_COROUTINE = 0x100
_CO_ASYNC_GENERATOR = 0x200


def _with_callers(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """*tb* extended upwards with the frames still running above it.

    The exception has only reached the wrapper; had it been left uncaught, Python would
    print the whole stack down from ``<module>``.  The session and the traceback printed
    under its header get that whole stack (``up`` reaches the callers), so the excepthook,
    which does not print an exception already debugged, leaves nothing missing.  The
    exception's own ``__traceback__`` is not touched.
    """
    if tb is None:
        return None
    frame = tb.tb_frame.f_back
    while frame is not None:
        tb = TracebackType(tb, frame, frame.f_lasti, frame.f_lineno)
        frame = frame.f_back
    return tb


def _debug(exc: BaseException) -> None:
    if isinstance(exc, (StopIteration, StopAsyncIteration)):
        return
    if not dispatch.wanted(exc):
        return  # the common case when debugging is off: no stack walk
    dispatch.handle(exc, _with_callers(exc.__traceback__), origin="decorator")


def _code_flags(func: Callable[..., Any]) -> int:
    target = func
    while isinstance(target, functools.partial):
        target = target.func
    target = getattr(target, "__func__", target)  # bound methods
    return getattr(getattr(target, "__code__", None), "co_flags", 0)


def _wrap(func: F) -> F:
    flags = _code_flags(func)
    if flags & _CO_ASYNC_GENERATOR:

        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            # `yield from` does not exist for async generators: forward by hand.
            agen = func(*args, **kwargs)
            try:
                value: Any = None
                thrown: Optional[BaseException] = None
                while True:
                    try:
                        item = await (agen.asend(value) if thrown is None else agen.athrow(thrown))
                    except StopAsyncIteration:
                        return
                    thrown = None
                    try:
                        value = yield item
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as exc:  # thrown in by the consumer
                        thrown, value = exc, None
            except BaseException as exc:
                _debug(exc)
                raise

        return functools.wraps(func)(async_gen_wrapper)  # type: ignore[return-value]

    if flags & (_CO_COROUTINE | _CO_ITERABLE_COROUTINE):

        async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except BaseException as exc:
                _debug(exc)
                raise

        return functools.wraps(func)(coroutine_wrapper)  # type: ignore[return-value]

    if flags & _CO_GENERATOR:

        def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return (yield from func(*args, **kwargs))
            except BaseException as exc:
                _debug(exc)
                raise

        return functools.wraps(func)(generator_wrapper)  # type: ignore[return-value]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BaseException as exc:
            _debug(exc)
            raise

    return functools.wraps(func)(wrapper)  # type: ignore[return-value]


class AttachOnError:
    """What ``Debugger.attach_on_error()`` returns: a decorator and a context manager."""

    __slots__ = ()

    def __call__(self, func: F) -> F:
        return _wrap(func)

    def __enter__(self) -> "AttachOnError":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        if exc is not None:
            _debug(exc)
        return False  # never swallow: the exception goes on as without the tool

    async def __aenter__(self) -> "AttachOnError":
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        return self.__exit__(exc_type, exc, tb)


@overload
def attach_on_error(func: F) -> F: ...
@overload
def attach_on_error(func: None = None) -> AttachOnError: ...
def attach_on_error(func: Optional[F] = None) -> Union[F, AttachOnError]:
    """Use as ``@attach_on_error``, ``@attach_on_error()`` or ``with attach_on_error():``."""
    if func is None:
        return AttachOnError()
    if not callable(func):
        raise TypeError(f"attach_on_error() takes a callable, not {type(func).__name__}")
    return _wrap(func)
