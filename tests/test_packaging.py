"""pyproject.toml and environment.yml describe the same environment, with loose bounds only.

Readers install with either file; if the two drift apart, one group of readers gets a broken book.
Exact pins are banned in both: Colab brings its own torch and Python, and pinned transitive packages
are what breaks notebooks there. Exact versions live only in the Makefile, for our own machines.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # the `test` extra installs tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "tmml-lite"

# conda-forge name -> pip name, where the two differ.
CONDA_TO_PIP = {
    "pytorch": "torch",
    "matplotlib-base": "matplotlib",
}
# Entries of environment.yml that are not packages of pyproject.toml.
ENV_ONLY = {"python", "pip"}


def normalise(name: str) -> str:
    """PEP 503 normalised name: lower case, runs of `-`, `_`, `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def load_environment() -> dict:
    with open(ROOT / "environment.yml") as f:
        return yaml.safe_load(f)


def pyproject_requirements() -> dict[str, Requirement]:
    """Runtime dependencies plus the `book` and `test` extras, by normalised name."""
    project = load_pyproject()["project"]
    extras = project["optional-dependencies"]
    lines = project["dependencies"] + extras["book"] + extras["test"]
    reqs = [Requirement(line) for line in lines]
    by_name = {normalise(r.name): r for r in reqs}
    assert len(by_name) == len(reqs), f"a package is listed twice in pyproject.toml: {lines}"
    return by_name


def parse_conda_spec(spec: str) -> tuple[str, str]:
    """'pytorch>=2.1' or 'pytorch >=2.1' -> ('pytorch', '>=2.1')."""
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(.*?)\s*", spec)
    assert m, f"cannot parse environment.yml entry {spec!r}"
    return m.group(1), m.group(2).replace(" ", "")


def environment_entries() -> tuple[list[str], list[str]]:
    """(conda entries, pip entries) of environment.yml, as written."""
    conda, pip = [], []
    for entry in load_environment()["dependencies"]:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, f"unexpected mapping in environment.yml: {entry}"
            pip.extend(entry["pip"])
        else:
            conda.append(str(entry))
    return conda, pip


def environment_requirements() -> dict[str, str]:
    """Packages of environment.yml as {normalised pip name: specifier}, without python, pip and `-e .`."""
    conda, pip = environment_entries()
    found: list[tuple[str, str]] = []
    for spec in conda:
        name, version = parse_conda_spec(spec)
        name = normalise(name)
        if name in ENV_ONLY:
            continue
        found.append((normalise(CONDA_TO_PIP.get(name, name)), version))
    for line in pip:
        if line.strip() in ("-e .", "-e ./", "."):
            continue
        r = Requirement(line)
        found.append((normalise(r.name), str(r.specifier)))
    by_name = dict(found)
    assert len(by_name) == len(found), f"a package is listed twice in environment.yml: {found}"
    return by_name


def test_environment_installs_the_project_itself():
    _, pip = environment_entries()
    assert pip and pip[-1].strip() == "-e .", "environment.yml should end with `pip: [..., -e .]`"


def test_every_pyproject_dependency_is_in_environment_yml():
    env = environment_requirements()
    missing = sorted(set(pyproject_requirements()) - set(env))
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"


def test_environment_yml_lists_nothing_pyproject_lacks():
    extra = sorted(set(environment_requirements()) - set(pyproject_requirements()))
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"


def test_version_bounds_agree():
    env = environment_requirements()
    for name, req in pyproject_requirements().items():
        if name not in env:
            continue  # reported by the test above
        try:
            env_spec = SpecifierSet(env[name])
        except InvalidSpecifier:
            pytest.fail(f"environment.yml: {name} has a version spec pip cannot read: {env[name]!r}")
        assert env_spec == req.specifier, (
            f"{name}: pyproject.toml says {str(req.specifier)!r}, environment.yml says {env[name]!r}"
        )


def test_dev_extra_is_book_plus_test():
    extras = load_pyproject()["project"]["optional-dependencies"]
    dev = [Requirement(line) for line in extras["dev"]]
    covered: set[str] = set()
    for r in dev:
        if normalise(r.name) == PROJECT:
            covered |= r.extras
        else:
            covered.add(normalise(r.name))
    assert {"book", "test"} <= covered, f"the dev extra should install book and test: {extras['dev']}"


def all_specs() -> list[tuple[str, str]]:
    """(file, entry) for every dependency line of both files."""
    project = load_pyproject()["project"]
    lines = [("pyproject.toml", d) for d in project["dependencies"]]
    for group in project["optional-dependencies"].values():
        lines += [("pyproject.toml", d) for d in group]
    conda, pip = environment_entries()
    lines += [("environment.yml", d) for d in conda + pip]
    return lines


def test_no_exact_pins():
    for where, line in all_specs():
        assert "==" not in line, f"{where}: exact pin {line!r}; use a loose bound (exact versions go in the Makefile)"
    conda, _ = environment_entries()
    for spec in conda:
        _, version = parse_conda_spec(spec)
        # In conda `pkg=1.2` pins to 1.2.*; only comparison operators are allowed here.
        assert not re.match(r"=[^=]", version), f"environment.yml: conda pin {spec!r}"


def test_jupyter_book_stays_below_2():
    # Jupyter Book 2 fetches its theme at build time and fails offline.
    req = pyproject_requirements()["jupyter-book"]
    assert not req.specifier.contains("2.0.0", prereleases=True), f"pyproject.toml: {req} must exclude 2"
    assert req.specifier == SpecifierSet("<2"), f"pyproject.toml: expected jupyter-book<2, found {req}"
    assert SpecifierSet(environment_requirements()["jupyter-book"]) == SpecifierSet("<2")


def test_package_data_ships_the_checkpoint():
    data = load_pyproject()["tool"]["setuptools"]["package-data"]["tmml_lite"]
    assert "assets/*.safetensors" in data and "assets/*.json" in data


def test_every_notebook_has_its_colab_badge_and_a_readme_link():
    """The badge in a chapter's first cell and the README's list open that very notebook in Colab."""
    import json
    root = Path(__file__).parents[1]
    readme = (root / "README.md").read_text()
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        url = f"https://colab.research.google.com/github/tmml-lite/tmml_lite/blob/main/notebooks/{path.name}"
        first = "".join(json.loads(path.read_text())["cells"][0]["source"])
        assert url in first, f"{path.name}: no Colab badge for itself in its first cell"
        assert url in readme, f"README.md has no Colab link to {path.name}"


def test_chapters_run_the_books_world_on_a_gpu_too_with_one_switch_to_real_data():
    """Chapters 01-06 load TinyCLIP on every machine (their text quotes its outputs); REAL_DATA, off by default
    and set in the setup cell, runs one cell of the chapter's experiment on a registered real dataset."""
    import json

    from tmml_lite import datasets
    for path in sorted((ROOT / "notebooks").glob("0[1-6]_*.ipynb")):
        code = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        setup = next(c for c in code if "load_clip" in c)
        assert "REAL_DATA = False" in setup and 'PROFILE, DEVICE = "tiny", "cpu"' in setup, path.name
        assert not any("get_profile()" in c for c in code), f"{path.name} lets the machine pick the profile"
        real = [c for c in code if "real_data_frame" in c]
        assert len(real) == 1 and "if REAL_DATA:" in real[0], path.name
        assert re.search(r'REAL_DATASET = "(\w+)"', real[0])[1] in datasets.DATASETS, path.name


def _build_scripts():
    """The book's build scripts scripts/check_notebooks.py and scripts/run_exercises.py, imported as modules."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import check_notebooks
        import run_exercises
    finally:
        sys.path.pop(0)
    return check_notebooks, run_exercises


def test_every_cpu_exercise_has_a_worked_solution_that_make_exercises_can_run():
    """`make exercises` runs the python blocks of each CPU exercise's Solution after its chapter; each chapter
    has five exercises, at least three of them for a CPU, and every CPU one has code to run, in lines that fit
    the book's code column."""
    import nbformat
    check_notebooks, run_exercises = _build_scripts()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        found = run_exercises.exercises(nbformat.read(path, as_version=4))
        assert [e["number"] for e in found] == [1, 2, 3, 4, 5], path.name
        cpu = [e for e in found if e["where"].startswith("CPU")]
        assert len(cpu) >= 3, path.name
        assert all(e["code"].strip() for e in cpu), path.name
        for e in found:
            wide = [line for line in e["code"].splitlines() if len(line) > check_notebooks.MAX_LINE]
            assert not wide, (path.name, e["number"], wide)


def test_chapter_sections_are_numbered_one_to_n():
    """Chapters refer to "section 5"; a lost or doubled `## N.` heading would point the reader nowhere."""
    import nbformat
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb")):
        numbers = [int(m) for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"
                   for m in re.findall(r"^## (\d+)\. ", cell.source, re.MULTILINE)]
        assert numbers == list(range(1, len(numbers) + 1)), (path.name, numbers)


def test_chapters_let_their_tables_carry_the_numbers_and_speak_of_the_subject():
    """A newcomer loses the point among the figures: at most 60 decimal numbers in a chapter's prose, at most 4
    "±" in a paragraph, and no word of how the book is made (design log, README, CSV paths, constants)."""
    import nbformat
    check_notebooks, _ = _build_scripts()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert check_notebooks.prose_problems(nbformat.read(path, as_version=4)) == [], path.name
