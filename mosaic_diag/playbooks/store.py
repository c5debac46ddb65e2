"""The playbook store: every playbook of a directory, and which one answers a label.

Precedence when several playbooks match (first wins):
1. the label named in `match` and the stage named in `match` (stage given);
2. the label named, no stage constraint;
3. the label named with a stage constraint, when no stage was given;
4. the same three tiers for playbooks that match by `category` only;
then file order (files sorted by name, playbooks in the order they appear). A playbook whose
`match.stage` does not include the given stage never matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaic_diag.errors import ConfigError
from mosaic_diag.playbooks.files import SHIPPED_DIR, playbook_files
from mosaic_diag.playbooks.model import Playbook

if TYPE_CHECKING:
    from mosaic_diag.playbooks.loader import FileProblem


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _store_key(validation_key: str, target: Path) -> str | None:
    """The `storecache` key of the set `target` with this validation key (None: its files cannot be listed)."""
    from mosaic_diag.playbooks import storecache

    try:
        return storecache.key_of(validation_key, [_shown(f) for f in playbook_files(target)])
    except (OSError, ConfigError):
        return None


@dataclass(frozen=True)
class PlaybookStore:
    """Validated playbooks in precedence-ready order."""

    playbooks: tuple[Playbook, ...]
    directory: Path
    taxonomy: Any

    @classmethod
    def load(cls, directory: Path | None = None, *, taxonomy: Any = None, key: str | None = None) -> PlaybookStore:
        """Load and validate `directory` (None: the shipped set); PlaybookError lists every problem. `key`: the
        set's `files.validation_key`, when known: a set that loads against the shipped taxonomy is kept in the
        on-disk cache (`storecache`) and read back by the next load of the same files, names and code."""
        cache_key = None
        if taxonomy is None:
            from mosaic_diag.classifier.taxonomy import load_taxonomy

            taxonomy = load_taxonomy()
            if key is not None:
                cache_key = _store_key(key, Path(directory) if directory is not None else SHIPPED_DIR)
        target = Path(directory) if directory is not None else SHIPPED_DIR
        if cache_key is not None:
            from mosaic_diag.playbooks import storecache

            kept = storecache.get(cache_key)
            if kept is not None:
                return cls(tuple(kept), target, taxonomy)
        from mosaic_diag.playbooks.loader import PlaybookError, load_playbooks

        playbooks, issues = load_playbooks([target], taxonomy, shown=_shown)
        if issues:
            raise PlaybookError(issues)
        if cache_key is not None:
            storecache.put(cache_key, playbooks)
        return cls(tuple(playbooks), target, taxonomy)

    @staticmethod
    def validate(targets: list[Path], *, taxonomy: Any = None) -> tuple[list[Playbook], list[FileProblem]]:
        from mosaic_diag.playbooks.loader import load_playbooks

        return load_playbooks(targets, taxonomy, shown=_shown)

    def __iter__(self) -> Iterator[Playbook]:
        return iter(self.playbooks)

    def __len__(self) -> int:
        return len(self.playbooks)

    def get(self, playbook_id: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == playbook_id), None)

    def candidates(self, label: str, *, stage: str | None = None, category: str | None = None) -> list[Playbook]:
        """Every playbook that matches, best first (see the module docstring)."""
        name = self.taxonomy.resolve(label).name if self.taxonomy.is_label(label) else label
        if category is None and name in self.taxonomy.labels:
            category = self.taxonomy.labels[name].category
        ranked = []
        for pb in self.playbooks:
            m = pb.match
            if m.stages and stage is not None and stage not in m.stages:
                continue
            if name in m.labels:
                base = 0
            elif not m.labels and category is not None and category in m.categories:
                base = 3
            else:
                continue
            tier = base + (0 if (m.stages and stage is not None) else 1 if not m.stages else 2)
            ranked.append((tier, pb.order, pb))
        return [pb for _, _, pb in sorted(ranked, key=lambda t: (t[0], t[1]))]

    def match(self, label: str, *, stage: str | None = None, category: str | None = None) -> Playbook | None:
        found = self.candidates(label, stage=stage, category=category)
        return found[0] if found else None

    def labels_without_playbook(self) -> list[str]:
        """Labels of the taxonomy that no playbook names explicitly."""
        named = {label for pb in self.playbooks for label in pb.match.labels}
        return [name for name in self.taxonomy.labels if name not in named]
