"""Which failures are the fallout of a peer's: gloo's "Connection closed by peer" or "Timed
out waiting", NCCL's watchdog, torch's ``DistBackendError`` and friends.  Such a failure
is a *consequence*; the first failure of the job that is not one is the root cause."""


from ..core import notice

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional

# torch.distributed's errors for a failed peer, store or transport (DistError's subclasses).
_CONSEQUENCE_TYPES = frozenset(("DistBackendError", "DistNetworkError", "DistStoreError"))
# What gloo, NCCL and the c10d store say when the failure is somebody else's (lowercase).
_CONSEQUENCE_TEXTS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "timed out waiting",
    "socket timeout",
    "application timeout caused pair closure",
    "watchdog caught collective operation timeout",
    "some nccl operations have failed or timed out",
    "nccl communicator was aborted",
    "ncclremoteerror",
    "remote process exited",
)


def is_consequence(exc: "Optional[BaseException]") -> bool:
    """Whether *exc* (or what it was raised from) looks like the fallout of a peer's
    failure rather than a failure of its own."""
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        for cls in type(exc).__mro__:
            if cls.__name__ in _CONSEQUENCE_TYPES and cls.__module__.startswith("torch"):
                return True
        if isinstance(exc, RuntimeError):  # torch reports C++ errors as RuntimeError
            text = notice.exception_text(exc).lower()
            if any(needle in text for needle in _CONSEQUENCE_TEXTS):
                return True
        exc = exc.__cause__ if exc.__suppress_context__ else (exc.__cause__ or exc.__context__)
    return False
