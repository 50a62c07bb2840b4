"""The result cache: unchanged code is not parsed again.

One JSON file per bnlint version, rule selection and rule source under
``.bnlint_cache/`` holds, per linted file, the hash of its bytes, its module
name, what its imports name, whether it holds a rule's token, and its findings.

Project-wide rules relate files only through imports (a train op reaches a
model builder by calling into a module it imports), so the files a finding can
depend on lie in one connected component of the import graph. When a file
changes, appears or disappears, its component is linted again as a whole;
every other file's findings come from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import bnlint
from bnlint.findings import Edit, Finding, Fix, Location
from bnlint.import_graph import GraphInputs, connected, import_graph
from bnlint.rule import Rule

CACHE_DIR_NAME = ".bnlint_cache"
_FORMAT = 2


@dataclass
class FileEntry:
    """What the cache remembers about one file."""

    digest: str
    module: str = ""
    imports: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    holds_tokens: bool = True
    # Linted through a translation from Python 2 (the CLI says so once per run, cached or not).
    python2: bool = False

    def graph_inputs(self) -> GraphInputs:
        return GraphInputs(self.module, self.holds_tokens, self.imports)


def file_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def run_key(rules: Iterable[type[Rule]]) -> str:
    """Identity of a configuration: bnlint's version and source, and the selected rules."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{_FORMAT}:{bnlint.__version__}".encode())
    package = Path(bnlint.__file__).resolve().parent
    rule_modules = {Path(__import__(rule.__module__, fromlist=["_"]).__file__).resolve() for rule in rules}
    # Source files, so an edited rule or engine never serves stale results in development.
    for path in sorted({*package.rglob("*.py"), *rule_modules}):
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    digest.update(",".join(sorted(rule.CODE for rule in rules)).encode())
    return digest.hexdigest()


class ResultCache:
    """Load, query and atomically store one configuration's cached results."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = directory
        self.path = directory / f"{key}.json"
        self.entries: dict[str, FileEntry] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = {name: FileEntry(**entry) for name, entry in raw["files"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            # Missing, half-written by a crashed run or from another format: start afresh.
            self.entries = {}

    def save(self, entries: Mapping[str, FileEntry]) -> None:
        """Write the cache atomically: a concurrent reader sees the old or the new file, never half."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by bnlint: the cache is not source.\n*\n", encoding="utf-8")
            payload = json.dumps({"files": {name: asdict(entry) for name, entry in entries.items()}})
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(payload)
            os.replace(temporary, self.path)
        except OSError:
            pass  # a read-only checkout still lints; it just is not cached


def dirty_files(current: Mapping[str, FileEntry], cached: Mapping[str, FileEntry]) -> set[str]:
    """Files that must be linted again: changed, new, and everything import-connected to a change."""
    # A file whose module name changed (a package __init__.py appeared or went) resolves
    # differently even with the same bytes.
    changed = {name for name, entry in current.items()
               if name not in cached or (cached[name].digest, cached[name].graph_inputs()) != (entry.digest, entry.graph_inputs())}
    removed = set(cached) - set(current)
    if not changed and not removed:
        return set()
    # Old edges count as much as new ones: a file that stopped importing a changed
    # file may have lost a finding that depended on it.
    old = import_graph({name: e.graph_inputs() for name, e in cached.items()})
    new = import_graph({name: e.graph_inputs() for name, e in current.items()})
    graph = {name: old.get(name, set()) | new.get(name, set()) for name in {*old, *new}}
    return connected(graph, changed | removed) & set(current)


def finding_to_dict(finding: Finding) -> dict:
    return asdict(finding)


def finding_from_dict(data: dict) -> Finding:
    fix = data.get("fix")
    return Finding(
        code=data["code"], name=data["name"], message=data["message"], filename=data["filename"],
        location=Location(**data["location"]), end_location=Location(**data["end_location"]),
        severity=data["severity"],
        fix=None if fix is None else Fix(
            applicability=fix["applicability"], message=fix["message"],
            edits=tuple(Edit(edit["content"], Location(**edit["location"]), Location(**edit["end_location"]))
                        for edit in fix["edits"]),
        ),
        noqa_row=data.get("noqa_row"), url=data.get("url"), cell=data.get("cell"),
        related=tuple((path, Location(**location)) for path, location in data.get("related", ())),
    )
