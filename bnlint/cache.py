"""The result cache: unchanged code is not parsed again.

One JSON file per bnlint version, rule selection and rule source under
``.bnlint_cache/`` holds, per linted file, the hash of its bytes, its module
name, what its imports name, whether it holds a rule's token, and its findings
(those a ``# noqa`` hides too). Beside it, a pack of every file's bytes as last
linted, compressed, lets the next run tell an edit of comments alone from a
change of code (``bnlint.comment_edits``); so does the list of questions rules
asked of raw text.

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
import secrets
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import bnlint
from bnlint.findings import Edit, Finding, Fix, Location
from bnlint.import_graph import GraphInputs, connected, import_graph
from bnlint.rule import Rule

CACHE_DIR_NAME = ".bnlint_cache"
_FORMAT = 3


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
    # Findings a ``# noqa`` comment hides, judged again when only comments change.
    suppressed: list[dict] = field(default_factory=list)
    # The last row whose position any rule or finding asked (``FileModel.rows_asked``).
    rows_asked: int = 0
    # Some rule copied source text of the file (``FileModel.code``) into what it reports.
    quoted: bool = False

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
        self.key = key
        self.path = directory / f"{key}.json"
        self.entries: dict[str, FileEntry] = {}
        # Every question rules asked of a file's raw text, in any run this cache remembers.
        self.text_probes: set[str] = set()
        # The source pack: file name, and where each file's compressed bytes lie in it.
        self._pack: str | None = None
        self._spans: dict[str, tuple[int, int]] = {}
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = {name: FileEntry(**entry) for name, entry in raw["files"].items()}
            self.text_probes = set(raw.get("text_probes", ()))
            pack = raw.get("pack")
            self._pack = pack if isinstance(pack, str) and os.path.basename(pack) == pack else None
            self._spans = {name: (int(span[0]), int(span[1])) for name, span in raw.get("spans", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            # Missing, half-written by a crashed run or from another format: start afresh.
            self.entries = {}
            self.text_probes = set()
            self._pack, self._spans = None, {}

    def previous_bytes(self, name: str) -> bytes | None:
        """The bytes ``name`` had when it was last linted; None when the pack no longer holds them.

        A concurrent run may have replaced the pack since this cache was loaded:
        the bytes are checked against the entry's digest, so a stale pack reads as missing.
        """
        span = self._spans.get(name)
        entry = self.entries.get(name)
        if span is None or entry is None or self._pack is None:
            return None
        try:
            with open(self.directory / self._pack, "rb") as stream:
                stream.seek(span[0])
                data = zlib.decompress(stream.read(span[1]))
        except (OSError, zlib.error, ValueError):
            return None
        return data if file_digest(data) == entry.digest else None

    def save(self, entries: Mapping[str, FileEntry], new_bytes: Mapping[str, bytes] | None = None,
             text_probes: Iterable[str] = ()) -> None:
        """Write the cache atomically: a concurrent reader sees the old or the new file, never half.

        ``new_bytes`` holds the bytes of files linted this run; the others' come from the old pack.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by bnlint: the cache is not source.\n*\n", encoding="utf-8")
            pack, spans = self._write_pack(entries, new_bytes or {})
            payload = json.dumps({"files": {name: asdict(entry) for name, entry in entries.items()},
                                  "text_probes": sorted(self.text_probes.union(text_probes)),
                                  "pack": pack, "spans": spans})
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(payload)
            os.replace(temporary, self.path)
            self._remove_old_packs(keep=pack)
        except OSError:
            pass  # a read-only checkout still lints; it just is not cached

    def _write_pack(self, entries: Mapping[str, FileEntry],
                    new_bytes: Mapping[str, bytes]) -> tuple[str, dict[str, tuple[int, int]]]:
        """A new pack (never one a reader may hold open), copying unchanged files' compressed bytes."""
        name = f"{self.key}.{secrets.token_hex(4)}.pack"
        spans: dict[str, tuple[int, int]] = {}
        old = None
        if self._pack is not None:
            try:
                old = open(self.directory / self._pack, "rb")
            except OSError:
                old = None
        try:
            with open(self.directory / name, "wb") as stream:
                offset = 0
                for file, entry in entries.items():
                    data = new_bytes.get(file)
                    if data is not None:
                        blob = zlib.compress(data, 1)
                    else:
                        blob = self._old_blob(old, file, entry)
                        if blob is None:
                            continue
                    stream.write(blob)
                    spans[file] = (offset, len(blob))
                    offset += len(blob)
        finally:
            if old is not None:
                old.close()
        return name, spans

    def _old_blob(self, old, file: str, entry: FileEntry) -> bytes | None:
        span = self._spans.get(file)
        previous = self.entries.get(file)
        if old is None or span is None or previous is None or previous.digest != entry.digest:
            return None
        old.seek(span[0])
        return old.read(span[1])

    def _remove_old_packs(self, keep: str) -> None:
        for path in self.directory.glob(f"{self.key}.*.pack"):
            if path.name != keep:
                try:
                    path.unlink()
                except OSError:
                    pass


def dirty_files(current: Mapping[str, FileEntry], cached: Mapping[str, FileEntry],
                same_code: Iterable[str] = ()) -> set[str]:
    """Files that must be linted again: changed, new, and everything import-connected to a change.

    ``same_code`` names files whose bytes changed in comments only (``bnlint.comment_edits``): no change.
    """
    same = set(same_code)
    # A file whose module name changed (a package __init__.py appeared or went) resolves
    # differently even with the same bytes.
    changed = {name for name, entry in current.items()
               if name not in same and (name not in cached or (cached[name].digest, cached[name].graph_inputs())
                                        != (entry.digest, entry.graph_inputs()))}
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
