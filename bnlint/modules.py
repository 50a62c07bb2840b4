"""Where Python would find an imported module, decided from the linted files' paths.

A file's module name (``module_name_for``) follows its ``__init__.py`` chain,
but real projects import the way the interpreter finds modules: a script
imports its siblings (``from model import net`` with ``model.py`` beside it),
a repository root with its own ``__init__.py`` is still run from inside,
folders without ``__init__.py`` are namespace packages
(``import labelreg.networks`` from the repository root), and ``src/`` or
``lib/`` folders are put on ``sys.path``. So an import is resolved from the
importing file: each plausible root, nearest first (the file's own folder,
then each folder above it, each also with its ``src/`` and ``lib/``), and the
first root holding the imported top-level name wins, as the first
``sys.path`` entry does.

Namespace folders (no ``__init__.py``) lose to an installed regular package,
as they do in Python: a project folder named ``tensorflow`` or ``keras``
without ``__init__.py`` never hides TensorFlow. A regular package or module
of the project named like a library (``keras/__init__.py``, ``layers.py``)
is the project's, as Python would import it, unless it is a copy of that
library itself (the keras repository's ``keras/`` with its ``layers/``):
then its names are the library's. Whether a folder has an ``__init__.py`` is
asked of the file system too, as the interpreter does: an empty one is never
linted, yet it makes its folder a regular package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

# Top-level names bnlint assumes are installed regular packages; a namespace folder never hides them.
_INSTALLED_PACKAGES = frozenset({"tensorflow", "keras", "tf_keras", "tf_slim", "tensorflow_addons"})
# A project folder holding one of these below a library's name is a copy of that library (the
# keras repository's own ``keras/``), which Python imports as the library: its imports are the library's.
_LIBRARY_SIGNATURES = {"keras": ("layers", "src", "engine"), "tf_keras": ("layers", "src"),
                       "tensorflow": ("python", "core"), "tf_slim": ("layers", "nets")}
# Folders that projects put on ``sys.path`` beside their top folder.
_SOURCE_FOLDERS = ("src", "lib")


@dataclass(frozen=True)
class ModuleTarget:
    """What an import denotes in the project: a file (module or package ``__init__``) or a namespace folder."""

    path: str  # the file, or the folder of a namespace package
    is_folder: bool
    rest: tuple[str, ...]  # names looked up inside it (``from model import net`` -> ("net",))


class ModuleMap:
    """The linted files' paths, and how imports written in one of them map onto the others."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.files: set[str] = set()
        # Every folder holding a linted file at any depth: a namespace package candidate.
        self.folders: set[str] = set()
        # Per folder, the names an import can find in it: its linted modules and its folders.
        self._names_in: dict[str, set[str]] = {}
        for raw in paths:
            path = os.path.abspath(raw)
            self.files.add(path)
            folder, base = os.path.split(path)
            if base.endswith(".py"):
                self._names_in.setdefault(folder, set()).add(base[:-3])
            while folder not in self.folders:
                self.folders.add(folder)
                parent, name = os.path.split(folder)
                if parent == folder:
                    break
                self._names_in.setdefault(parent, set()).add(name)
                folder = parent
        self._roots: dict[str, tuple[str, ...]] = {}
        self._cache: dict[tuple[str, str], ModuleTarget | None] = {}
        self._under: dict[str, set[str]] | None = None
        self._folders_of: dict[str, str] = {}
        self._regular: dict[str, bool] = {}

    def resolve(self, importer: str, dotted: str) -> ModuleTarget | None:
        """The project module an import written in ``importer`` reaches; None when it is not the project's.

        ``dotted`` is what the import names, with leading dots for a relative
        import: ``model.net``, ``.layers.conv``, ``..utils``.
        """
        folder = self._folders_of.get(importer)
        if folder is None:
            folder = self._folders_of[importer] = os.path.dirname(os.path.abspath(importer))
        key = (folder, dotted)
        if key in self._cache:
            return self._cache[key]
        result = self._resolve(folder, dotted)
        self._cache[key] = result
        return result

    def _resolve(self, folder: str, dotted: str) -> ModuleTarget | None:
        level = len(dotted) - len(dotted.lstrip("."))
        parts = tuple(part for part in dotted[level:].split(".") if part)
        if level:
            base = folder
            for _ in range(level - 1):
                base = os.path.dirname(base)
            if not parts:
                return self._package(base, ()) if base in self.folders else None
            return self._descend(base, parts, relative=True)
        if not parts:
            return None
        roots = self._roots.get(folder)
        if roots is None:
            roots = self._roots[folder] = tuple(self.roots(folder))
        for root in roots:
            # Nothing of that name in the root: ``_descend`` would find nothing (most roots,
            # for most imports: every folder up to ``/`` is tried for ``import numpy``).
            if parts[0] not in self._names_in.get(root, ()):
                continue
            found = self._descend(root, parts, relative=False)
            if found is not None:
                return found
        return None

    def roots(self, folder: str) -> Iterable[str]:
        """Plausible ``sys.path`` entries for code in ``folder``, nearest first."""
        current = folder
        while True:
            yield current
            for extra in _SOURCE_FOLDERS:
                candidate = os.path.join(current, extra)
                if candidate in self.folders:
                    yield candidate
            parent = os.path.dirname(current)
            if parent == current:
                return
            current = parent

    def _descend(self, root: str, parts: tuple[str, ...], relative: bool) -> ModuleTarget | None:
        """Follow ``parts`` from ``root`` through packages down to a module file."""
        top = os.path.join(root, parts[0])
        if not relative and parts[0] in _LIBRARY_SIGNATURES and any(
                os.path.join(top, sub) in self.folders for sub in _LIBRARY_SIGNATURES[parts[0]]):
            return None
        regular = self._is_regular_package(top)
        if not relative and not regular and f"{top}.py" not in self.files:
            # Only a namespace folder here: it loses to an installed package of that name.
            if top not in self.folders or parts[0] in _INSTALLED_PACKAGES:
                return None
        node = root
        for index, part in enumerate(parts):
            child = os.path.join(node, part)
            if self._is_regular_package(child) or (
                    child in self.folders and f"{child}.py" not in self.files):
                node = child
                continue
            if f"{child}.py" in self.files:
                return ModuleTarget(f"{child}.py", False, parts[index + 1:])
            if index == 0:
                return None
            # A name defined in the package itself (its ``__init__.py``), or one bnlint cannot see.
            return self._package(node, parts[index:])
        return self._package(node, ())

    def _is_regular_package(self, folder: str) -> bool:
        """``folder`` has an ``__init__.py``, linted or not.

        Whether a folder is a package is the file system's answer, as for the
        interpreter: an empty ``__init__.py`` holds no rule token and is never
        parsed (or is excluded from linting), yet it makes the project's own
        ``keras/`` hide the library.
        """
        known = self._regular.get(folder)
        if known is None:
            init = os.path.join(folder, "__init__.py")
            known = self._regular[folder] = init in self.files or (folder in self.folders and os.path.isfile(init))
        return known

    def _package(self, folder: str, rest: tuple[str, ...]) -> ModuleTarget:
        init = os.path.join(folder, "__init__.py")
        if init in self.files:
            return ModuleTarget(init, False, rest)
        return ModuleTarget(folder, True, rest)

    def files_reached(self, importer: str, dotted: str, whole_packages: bool = True) -> set[str]:
        """The linted files an import reaches: the module it names.

        With ``whole_packages`` (an over-approximation of ``resolve``, for
        grouping files), the package ``__init__.py`` files above it count too,
        and importing a package reaches every module below it, since
        ``import pkg`` lets code name ``pkg.sub.f``.
        """
        target = self.resolve(importer, dotted)
        if target is None:
            return set()
        reached: set[str] = set()
        folder = os.path.dirname(target.path) if not target.is_folder else target.path
        if whole_packages and (target.is_folder or os.path.basename(target.path) == "__init__.py"):
            reached |= self._files_under(folder)
        elif not target.is_folder:
            reached.add(target.path)
        while whole_packages and folder in self.folders:
            init = os.path.join(folder, "__init__.py")
            if init not in self.files:
                break
            reached.add(init)
            folder = os.path.dirname(folder)
        return reached

    def files_under(self, folder: str) -> set[str]:
        """Linted files inside a folder, at any depth."""
        return self._files_under(folder)

    def _files_under(self, folder: str) -> set[str]:
        if self._under is None:
            self._under = {}
            for path in self.files:
                parent = os.path.dirname(path)
                while parent in self.folders:
                    self._under.setdefault(parent, set()).add(path)
                    grand = os.path.dirname(parent)
                    if grand == parent:
                        break
                    parent = grand
        return self._under.get(folder, set())
