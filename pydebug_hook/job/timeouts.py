"""This rank's process groups get a long timeout while it is debugged, as
``torch.distributed.breakpoint`` does, and their own back after a post-mortem; only when
torch.distributed is imported and initialized (the tool never imports torch)."""

import sys

from ..core import notice

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, List

SESSION_PG_TIMEOUT_S = 24 * 3600  # a process group's timeout while its rank is debugged


def raise_pg_timeouts() -> "Callable[[], None]":
    """Give this rank's process groups a long timeout; a callable that puts the previous
    ones back.  Nothing unless torch.distributed is imported and initialized."""
    dist = sys.modules.get("torch.distributed")
    c10d = sys.modules.get("torch.distributed.distributed_c10d")
    if dist is None or c10d is None:
        return lambda: None
    previous: List[Any] = []
    try:
        if not (dist.is_available() and dist.is_initialized()):
            return lambda: None
        import warnings
        from datetime import timedelta

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Set timeout is now only supported for nccl or gloo"
            for group in list(c10d._pg_map):
                before = _timeout_of(group)
                c10d._set_pg_timeout(timedelta(seconds=SESSION_PG_TIMEOUT_S), group)
                if before is not None:
                    previous.append((group, before))
    except Exception as exc:  # a private torch API: it may change under us
        notice.warn_once("pg-timeout", f"could not raise the process group timeouts during the session ({notice.describe_error(exc)})")

    def restore() -> None:
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for group, before in previous:
                    c10d._set_pg_timeout(before, group)
        except Exception:
            pass  # the group may be gone (destroyed during the session)

    return restore


def _timeout_of(group: "Any") -> "Any":
    for device in getattr(group, "_device_types", ()):
        try:
            return group._get_backend(device).options._timeout
        except Exception:  # a device without a backend: try the next
            pass
    return None
