"""The architecture's rules that the import contract (pyproject.toml, [tool.importlinter])
cannot see: they are read here from the product's own source with Python's ast module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted([*ROOT.joinpath("webapp").rglob("*.py"), ROOT / "tasks.py", ROOT / "wsgi.py"])
LIFECYCLE = ROOT / "webapp" / "core" / "lifecycle"


def module_name(path: Path) -> str:
    """webapp/core/sending.py -> webapp.core.sending; a package's __init__ -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PRODUCT}


def tree_of(path: Path) -> ast.Module:
    """The parsed source, each node knowing its parent."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node  # type: ignore[attr-defined]
    return tree


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def imported_modules(path: Path) -> set[str]:
    """The product modules `path` imports, with the packages Python runs on the way."""
    found = set()
    for node in ast.walk(tree_of(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            # Importing a.b.c runs a/__init__ and a/b/__init__ too.
            found |= {".".join(parts[:n]) for n in range(1, len(parts) + 1)} & MODULES.keys()
    return found - {module_name(path)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_source():
    graph = {name: imported_modules(path) for name, path in MODULES.items()}
    assert "webapp.enqueue" in graph["tasks"]
    assert "webapp.core.lifecycle.deliveries" in graph["webapp.core.lanes"]
    assert "webapp" in graph["webapp.core.sending"]  # the package runs first


def test_no_import_cycle_anywhere_in_the_product():
    graph = {name: imported_modules(path) for name, path in MODULES.items()}
    assert cycles(graph) == []


def test_a_cycle_would_be_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_inside_a_function():
    # An import placed in a function is how a cycle hides from the contract.
    inside = [
        where(path, node)
        for path in PRODUCT
        for node in ast.walk(tree_of(path))
        if isinstance(node, ast.Import | ast.ImportFrom) and _in_function(node)
    ]
    assert inside == []


def _in_function(node: ast.AST) -> bool:
    parent = getattr(node, "parent", None)
    while parent is not None:
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return True
        parent = getattr(parent, "parent", None)
    return False


def test_the_environment_is_read_in_one_place():
    settings = ROOT / "webapp" / "infra" / "settings.py"
    readers = [
        where(path, node)
        for path in PRODUCT
        if path != settings
        for node in ast.walk(tree_of(path))
        if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"))
        or (isinstance(node, ast.Name) and node.id in ("environ", "getenv"))
    ]
    assert readers == []


def _sets_state(node: ast.Call) -> bool:
    keywords = {kw.arg for kw in node.keywords}
    dict_keys = {
        key.value
        for arg in node.args
        if isinstance(arg, ast.Dict)
        for key in arg.keys
        if isinstance(key, ast.Constant)
    }
    return "state" in keywords | dict_keys


def test_states_change_only_in_the_lifecycle_package():
    changes = []
    for path in PRODUCT:
        if LIFECYCLE in path.parents:
            continue
        for node in ast.walk(tree_of(path)):
            # UPDATE ... SET state = ...: a statement's .values(state=...)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "values"
                and _sets_state(node)
            ):
                changes.append(where(path, node))
            # run.state = ..., delivery.state = ...
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Attribute) and t.attr == "state" for t in targets):
                changes.append(where(path, node))
    assert changes == []


def test_modules_are_small():
    large = {
        str(path.relative_to(ROOT)): lines
        for path in PRODUCT
        if (lines := len(path.read_text().splitlines())) > 400
    }
    assert large == {}


def test_tasks_call_the_core_and_hold_no_queries_or_web_code():
    imported = imported_modules(ROOT / "tasks.py")
    assert not {m for m in imported if m.startswith(("webapp.web", "webapp.app"))}
    source = (ROOT / "tasks.py").read_text()
    assert "sqlalchemy" not in source and "flask" not in source


def test_views_write_no_sql():
    # Views get their data from core; from SQLAlchemy they take only the session type
    # (services.py) and its errors (errors.py).
    allowed = {"sqlalchemy.orm", "sqlalchemy.exc"}
    web = ROOT / "webapp" / "web"
    uses = [
        f"{where(path, node)} {node.module}"
        for path in PRODUCT
        if web in path.parents
        for node in ast.walk(tree_of(path))
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("sqlalchemy")
        and node.module not in allowed
    ]
    assert uses == []
