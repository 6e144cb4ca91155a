"""The layout holds: each stage imports only the stages below it (sdk -> call -> telemetry ->
wire), no module imports one that imports it back, no module is over 200 lines, and the package's
top level stays small."""

import ast
from pathlib import Path

import opentelemetry_instrumentation_neuralwatt

PACKAGE = Path(opentelemetry_instrumentation_neuralwatt.__file__).parent
NAME = PACKAGE.name
STAGES = ["sdk", "call", "telemetry", "wire"]  # top to bottom
MODULES = {p: ".".join((NAME, *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
           for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set:
    """The package's own modules this file imports (at any depth of the file)."""
    module = MODULES[path]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {name for name in names if name in MODULES.values()} or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith(NAME + ".") and name != module}


def stage(module: str):
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 2 and parts[1] in STAGES else None


def test_each_stage_imports_only_the_stages_below_it():
    upward = []
    for path, module in MODULES.items():
        mine = stage(module)
        for target in imports(path):
            theirs = stage(target)
            if mine is not None and (theirs is None or theirs < mine):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_module_imports_one_that_imports_it_back():
    graph = {MODULES[p]: {t for t in imports(p) if t in MODULES.values()} for p in MODULES}

    def reaches(start, goal, seen):
        for step in graph.get(start, ()):
            if step == goal or (step not in seen and (seen.add(step) or reaches(step, goal, seen))):
                return True
        return False

    assert [m for m in graph if reaches(m, m, set())] == []


def test_no_module_is_over_200_lines_and_the_top_level_stays_small():
    long = {MODULES[p]: n for p in MODULES if (n := len(p.read_text().splitlines())) > 200}
    assert long == {}
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "instrumentor.py", "package.py", "version.py"]
