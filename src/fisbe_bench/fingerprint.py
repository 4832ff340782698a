"""Code fingerprints: the package modules a workflow script runs, and one hash of them.

Snakemake tracks a rule's own script, not the modules that script imports. Each rule therefore
passes the fingerprint of its script's import closure as a parameter (``params: code=...``),
so that editing one of those modules reruns the rule's jobs. Imports are found statically
(``ast``), anywhere in a file, functions included; importing ``a.b.c`` runs the packages
``a`` and ``a.b`` first, so their ``__init__.py`` belong to the closure. Dynamic imports
(``importlib``) cannot be seen: the caller names those modules. Standard library only: the
Snakefile imports this module before any environment exists.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE = "fisbe_bench"


def module_file(src: Path, name: str) -> Path | None:
    """The source file of module ``name`` under ``src`` (a package's ``__init__.py``), or
    ``None`` when ``name`` is no module there (e.g. a function imported by name)."""
    base = src.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_name(base.name + ".py")):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, package: str | None) -> set[str]:
    """Dotted names ``path`` may import from :data:`PACKAGE`, anywhere in the file.

    ``from m import x`` yields ``m`` and ``m.x`` (``x`` may be a submodule); ``package`` is the
    package of ``path`` (its own name for an ``__init__.py``), for relative imports, or
    ``None`` outside the package (relative imports are then skipped).
    """
    return set(_imported_names(path, package, _stamp(path)))


@functools.cache
def _imported_names(path: Path, package: str | None, stamp: tuple[int, int]) -> frozenset[str]:
    """:func:`imported_names`, parsed once per file version within a process."""
    names: set[str] = set()
    for node in _statements(ast.parse(path.read_bytes(), filename=str(path)).body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is not None:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(n for n in names if n == PACKAGE or n.startswith(f"{PACKAGE}."))


def _statements(body: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every statement in ``body`` and in the blocks nested in it (functions, classes, ``if``,
    ``try``, ``with``, loops, ``match``): all places an import can be, without visiting the
    far more numerous expression nodes."""
    for node in body:
        yield node
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, block, ()))


def _absolute(node: ast.ImportFrom, package: str | None) -> str | None:
    """The absolute module name of a ``from ... import`` (``None``: relative, no package)."""
    if not node.level:
        return node.module
    if package is None:
        return None
    parts = package.split(".")
    if node.level > len(parts):
        return None
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def import_closure(src: Path, entry: Path, modules: Iterable[str] = ()) -> dict[str, Path]:
    """Module name -> file of every :data:`PACKAGE` module that running ``entry`` (a script
    outside the package) imports, directly or through other modules, sorted by name.

    ``modules`` names modules that ``entry`` imports dynamically (``importlib``), e.g. the one
    of a method kind chosen at run time; they and their imports count as well.
    """
    found: dict[str, Path] = {}
    todo: list[tuple[Path, str | None]] = [(entry, None)]
    extra = set(modules)
    while todo:
        path, package = todo.pop()
        names = imported_names(path, package) | extra
        extra = set()
        for name in names:
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in found:
                    continue
                file = module_file(src, prefix)
                if file is None:
                    break  # not a module (an attribute): nothing deeper is one either
                found[prefix] = file
                is_package = file.name == "__init__.py"
                todo.append((file, prefix if is_package else prefix.rpartition(".")[0]))
    return dict(sorted(found.items()))


def code_fingerprint(src: Path, entry: Path, modules: Iterable[str] = ()) -> str:
    """sha256 over :func:`import_closure`: each module's path (relative to ``src``) and the
    sha256 of its bytes, in path order. Equal code gives an equal fingerprint."""
    digest = hashlib.sha256()
    for path in sorted(import_closure(src, entry, modules).values()):
        digest.update(path.relative_to(src).as_posix().encode())
        digest.update(bytes.fromhex(_file_sha256(path, _stamp(path))))
    return digest.hexdigest()


@functools.cache
def _file_sha256(path: Path, stamp: tuple[int, int]) -> str:
    """sha256 of a file's bytes, computed once per file version within a process."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    """Modification time (ns) and size: a cache key that changes when the file is edited."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size
