"""The import structure of `icl` and `theory`, read from the source (not by importing).

Every `import` counts, also those inside functions (a late import hides a cycle, it
does not remove it). An import of ``a.b.c`` from module ``m`` depends on ``a.b.c``
and on the packages ``a.b`` and ``a`` that are not ``m``'s own ancestors (importing
a module runs its packages' ``__init__``). The one exception is a package
``__init__``'s module-level ``__getattr__``: a lazy re-export that runs only on
attribute access, after every module is loaded (``icl.train.train_and_evaluate``).

Rules (CONTRIBUTING.md, "Layers"): no cycle; `theory` imports nothing of `icl`;
tasks import no model, trainer, probe or config module; models import no task,
trainer, probe or config module; probes import nothing from `icl.train`,
`icl.evaluate` or `icl.sweep`; `icl.losses`, `icl.records` and `icl.programs`
import nothing of `icl`.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("icl", "theory")


def _module_name(path: pathlib.Path) -> str:
  parts = list(path.relative_to(ROOT).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
  return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _lazy_nodes(tree: ast.Module, is_package: bool) -> set[int]:
  """ids of the import nodes inside a package's module-level __getattr__."""
  if not is_package:
    return set()
  return {id(node) for fn in tree.body
          if isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__"
          for node in ast.walk(fn)}


def _imports(name: str, path: pathlib.Path, modules: dict) -> set[str]:
  """Internal modules that importing `name` runs (module docstring)."""
  tree = ast.parse(path.read_text())
  is_package = path.name == "__init__.py"
  lazy = _lazy_nodes(tree, is_package)
  package = name if is_package else name.rpartition(".")[0]
  targets = set()
  for node in ast.walk(tree):
    if id(node) in lazy:
      continue
    if isinstance(node, ast.Import):
      targets.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative import
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      for alias in node.names:
        full = f"{base}.{alias.name}"
        targets.add(full if full in modules else base)
  own = {".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")) + 1)}
  deps = set()
  for target in targets:
    parts = target.split(".")
    if parts[0] not in PACKAGES:
      continue
    for i in range(1, len(parts) + 1):
      prefix = ".".join(parts[:i])
      if prefix in modules and prefix not in own:
        deps.add(prefix)
  return deps


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
  modules = _modules()
  return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph.get(v, ())):
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
        out.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def _in(module: str, *packages: str) -> bool:
  return any(module == p or module.startswith(p + ".") for p in packages)


FORBIDDEN = {
    "theory": ("icl",),
    "icl.tasks": ("icl.models", "icl.train", "icl.probes", "icl.config_lib",
                  "icl.evaluate", "icl.sweep"),
    "icl.models": ("icl.tasks", "icl.train", "icl.probes", "icl.config_lib",
                   "icl.evaluate", "icl.sweep"),
    "icl.probes": ("icl.train", "icl.evaluate", "icl.sweep"),
    "icl.losses": ("icl",),
    "icl.records": ("icl",),
    "icl.programs": ("icl",),
}


def test_no_import_cycle(graph):
  assert _cycles(graph) == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_wrong_way_import(graph, layer):
  bad = sorted((m, d) for m, deps in graph.items() if _in(m, layer)
               for d in deps if _in(d, *FORBIDDEN[layer]) and not _in(d, layer))
  assert bad == []


def test_the_reader_sees_late_imports_and_cycles():
  """The checks can fail: a cycle through a function-level import is found, and
  a wrong-way import is seen."""
  modules = {"icl.a": None, "icl.b": None, "icl": None}
  tree = {"icl.a": {"icl.b"}, "icl.b": {"icl.a"}}
  assert _cycles(tree) == [["icl.a", "icl.b"]]
  source = ROOT / "tests" / "_import_probe.py"
  try:
    source.write_text("def f():\n  from icl.train import core\n")
    deps = _imports("icl.tasks.x", source, {**modules, "icl.train": None,
                                            "icl.train.core": None})
  finally:
    source.unlink()
  assert deps == {"icl.train", "icl.train.core"}


def test_graph_covers_the_known_edges(graph):
  """A sanity check of the reader on this repo's own imports."""
  assert "icl.config_lib" in graph["icl.train.trainer"]
  assert "icl.train.optim" in graph["icl.config_lib"]
  assert "icl.train.trainer" not in graph["icl.train"]  # lazy __getattr__
  assert "icl.losses" in graph["icl.tasks.mqar"]
