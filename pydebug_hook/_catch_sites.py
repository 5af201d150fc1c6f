"""The five catch sites: where frameworks catch a worker's exception before any
excepthook sees it.  One table, read at start-up (the hooks patch each module when the
program imports it), by children/ (which worker this is) and by ``pydebug-hook doctor``.
Data only: the start-up path imports nothing through it."""

# (module patched, the kind of worker it runs, the function of that module that
# multiprocessing runs as such a worker's target: how a worker knows its kind)
SITES = (
    ("multiprocessing.process", "process", None),
    ("multiprocessing.pool", "pool", "worker"),
    ("concurrent.futures.process", "executor", "_process_worker"),
    ("torch.utils.data._utils.worker", "dataloader", "_worker_loop"),
    ("torch.multiprocessing.spawn", "spawn", "_wrap"),
)

MODULES = tuple(module for module, _, _ in SITES)
