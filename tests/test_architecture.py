"""The architecture holds: layers that import only downwards, no import cycle (imports
inside functions included), function-level imports that say why, every registered mode
behind the one protocol, and each fact kept in one place (docs/architecture.md).

Read from the installed package's source, as the other tests use it."""

import ast
import inspect
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import internals
from helpers import REPO

import pydebug_hook

PACKAGE = Path(pydebug_hook.__file__).resolve().parent

# The layers, lowest first: a module imports from its own layer or one below.  Modes
# build on each other in one direction (console on socket, socket and web on dump).
LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("data", ("pydebug_hook._version", "pydebug_hook._catch_sites", "pydebug_hook.modes")),
    ("core services", ("pydebug_hook.core",)),
    ("job and worker", ("pydebug_hook.job", "pydebug_hook.children.worker")),
    ("modes", ("pydebug_hook.modes.",)),
    ("dispatch", ("pydebug_hook.core.dispatch",)),
    ("entry points", ("pydebug_hook", "pydebug_hook._", "pydebug_hook.children.patches", "pydebug_hook.cli")),
]


def _layer(module: str) -> int:
    """The layer of *module*: the one whose longest prefix matches it."""
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix.endswith((".", "_")) and module.startswith(prefix)) or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best >= 0, f"{module} is in no layer"
    return best


def _modules() -> Dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> List[Tuple[str, int, bool]]:
    """(imported module of ours, line, inside a function) for every import in *module*."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    root = base[: len(base) - (child.level - 1)]
                    source = ".".join(root + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in child.names]
            for target in targets:
                while target and target not in MODULES:
                    target = target.rpartition(".")[0]
                if target and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_the_layers_import_only_downwards():
    upward = [
        f"{module}:{line} imports {target} ({LAYERS[_layer(target)][0]} above {LAYERS[_layer(module)][0]})"
        for module, imports in GRAPH.items()
        for target, line, _ in imports
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_no_import_cycle_function_level_imports_included():
    edges = {module: {target for target, _, _ in imports} for module, imports in GRAPH.items()}
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert cycles == []


def _explained(lines: List[str], line: int) -> bool:
    """A comment on the import's line, or just above the block of imports it is in."""
    if "#" in lines[line - 1]:
        return True
    above = line - 2
    while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
        if "#" in lines[above]:
            return True
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def test_every_function_level_import_of_ours_says_why():
    """A function-level import exists to keep start-up or a session's path cheap (or to
    load something only when it is needed); a short comment says which."""
    silent = [
        f"{module}:{line} imports {target}"
        for module, imports in GRAPH.items()
        for target, line, in_function in imports
        if in_function and not _explained(MODULES[module].read_text().splitlines(), line)
    ]
    assert silent == []


def test_start_up_modules_import_only_start_up_modules_at_module_level():
    startup = {m for m in internals.STARTUP_MODULES}
    found = [
        f"{module}:{line} imports {target}"
        for module in startup
        for target, line, in_function in GRAPH[module]
        if not in_function and target not in startup
    ]
    assert found == []


def test_every_registered_mode_implements_the_protocol():
    for name in internals.modes.MODES:
        mode = internals.modes.get(name)
        for function, parameters in (("preflight", ["session"]), ("run", ["session", "announce"]), ("where", ["session"])):
            found = getattr(mode, function, None)
            assert callable(found), f"mode {name} has no {function}()"
            assert list(inspect.signature(found).parameters) == parameters, f"{name}.{function}{inspect.signature(found)}"
    assert internals.modes.names()[-1] == "auto" and "auto" not in internals.modes.MODES


def test_each_catch_site_has_one_patch():
    assert list(internals.patches.PATCHES) == list(internals.catch_sites.MODULES)


def test_the_off_words_are_the_same_everywhere():
    """The start-up line and the sitecustomize template may import nothing, so each keeps
    a copy of the words that switch debugging off: the same as the settings'."""
    words = internals.settings.OFF_WORDS
    assert set(internals.bootstrap.OFF_WORDS) == set(words) == set(pydebug_hook._OFF_WORDS)
    assert repr(tuple(internals.bootstrap.OFF_WORDS)) in internals.bootstrap.PTH_LINE
    template = (REPO / "sitecustomize_template" / "sitecustomize.py").read_text()
    [copy] = re.findall(r"\.lower\(\) in (\([^)]*\)):", template)
    assert ast.literal_eval(copy) == tuple(words)
