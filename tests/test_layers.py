"""The shape of the library: layers that only import downwards, small learner files, and modules that drive
learners using only the members `PromptLearner`'s docstring promises."""
import ast
import re
from pathlib import Path

import pytest
from torch import nn

from tmml_lite.prompt_learner import PromptLearner

PACKAGE = Path(__file__).parents[1] / "tmml_lite"
# bottom to top; a module may import from its own layer or below (tmml_lite/__init__.py says the same)
LAYERS = [
    ("world", "metrics", "checkpoint", "papers", "store"),
    ("datasets", "data", "backbone"),
    ("text_encoder", "zeroshot", "pretrain"),
    ("layers", "saving", "prompt_learner", "ctp", "tft", "losses"),
    ("coop", "cocoop", "tmml"),
    ("engine",),
    ("methods",),
    ("grid", "protocols", "premises", "discrimination", "bench"),
    ("plotting", "widgets", "__main__"),
]
RANK = {module: rank for rank, layer in enumerate(LAYERS) for module in layer}
LEARNER_FILES = ("coop", "cocoop", "tmml")


def _imports(module: str) -> set[str]:
    """The tmml_lite modules `module` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
    return {m.split(".")[0] for m in found}


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", MODULES)
def test_nothing_imports_from_a_layer_above(module):
    assert module in RANK, f"tmml_lite/{module}.py is in no layer: add it to LAYERS in {Path(__file__).name}"
    above = sorted(m for m in _imports(module) if RANK.get(m, -1) > RANK[module])
    assert not above, f"{module} imports {above} from a layer above its own"


def test_there_is_no_import_cycle():
    graph = {m: _imports(m) & set(MODULES) for m in MODULES}
    done, path = set(), []

    def visit(module):
        assert module not in path, "import cycle: " + " -> ".join(path[path.index(module):] + [module])
        if module not in done:
            path.append(module)
            for other in sorted(graph[module]):
                visit(other)
            path.pop()
            done.add(module)
    for module in MODULES:
        visit(module)


@pytest.mark.parametrize("module", LEARNER_FILES)
def test_each_learner_file_reads_in_one_sitting(module):
    lines = len((PACKAGE / f"{module}.py").read_text().splitlines())
    assert lines <= 150, f"tmml_lite/{module}.py has {lines} lines"


@pytest.mark.parametrize("module", ["engine", "saving", "discrimination", "bench"])
def test_modules_that_drive_learners_use_only_the_members_the_learner_contract_names(module):
    """Every `learner.<member>` in the modules that train, score or measure learners is an nn.Module member or
    is named in PromptLearner's docstring, and they never look members up by name (hasattr/getattr on a
    learner)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "learner"}
    assert used, f"{module}.py should be found using learners"
    unwritten = sorted(m for m in used if m not in dir(nn.Module) and f"``{m}" not in PromptLearner.__doc__)
    assert not unwritten, f"{module}.py uses learner members its contract does not name: {unwritten}"
    written = {target.attr for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign))
               for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
               if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
               and target.value.id == "learner"}
    assert written <= {"class_chunk", "prompts_per_pass"}, f"{module}.py sets learner members {sorted(written)}"
    lookups = [node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")
               and any(isinstance(a, ast.Name) and a.id == "learner" for a in node.args)]
    assert not lookups, f"{module}.py looks up learner members by name: {lookups}"


MODULE_NAMES = "|".join(MODULES + ["tl"])


def _research_code() -> dict[str, str]:
    """The code of the research scripts and of every chapter's cells (exercise solutions included)."""
    import json
    root = PACKAGE.parent
    code = {str(p.relative_to(root)): p.read_text() for p in sorted((root / "experiments").glob("*.py"))}
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code[path.name] = "\n".join("".join(c["source"]) for c in cells)
    return code


@pytest.mark.parametrize("name", sorted(_research_code()))
def test_research_scripts_and_chapters_work_through_public_seams(name):
    """No research script or chapter calls a private name of the library or assigns to a library module's
    attribute (a method registry entry, a task, an engine function): variants go through `MethodSpec`s, `Task`s
    and `make_optimizer`."""
    code = _research_code()[name]
    private = re.findall(rf"\b(?:{MODULE_NAMES})\._[a-z]\w*", code)
    assigned = re.findall(rf"^\s*(?:{MODULE_NAMES})\.[\w.]+(?:\[[^\]]*\])?\s*=(?!=)", code, flags=re.M)
    assert not private and not assigned, (private, assigned)


def test_each_research_script_says_how_to_run_it():
    for path in sorted((PACKAGE.parent / "experiments").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert f"python experiments/{path.name}" in doc, f"{path.name} has no usage line in its docstring"
