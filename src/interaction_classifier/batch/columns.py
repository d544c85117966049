"""The columns a run adds to the input's, and the clash check that protects input columns.

``score`` adds the model's prediction columns, ``status`` and ``model_version`` to every
row, and ``input_row`` and ``input_lines`` to the quarantine; ``--output-prefix`` prefixes
all of them. An input column with one of those names (or an internal ``__ic_`` name) would
be overwritten, so it is refused before any row is scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from interaction_classifier.batch.chunks import READ_STATUS, STATUS_COLUMN, Model, score_chunk
from interaction_classifier.batch.formats import BatchError

INPUT_ROW = "input_row"
INPUT_LINES = "input_lines"
INTERNAL_PREFIX = "__ic_"
SCORED_TEXT = f"{INTERNAL_PREFIX}text"


@dataclass(frozen=True)
class OutputColumns:
    """The added columns' names: ``added`` as ``score_chunk`` names them, and ``prefix``."""

    added: tuple[str, ...]
    prefix: str = ""

    @classmethod
    def of(cls, model: Model, prefix: str = "") -> OutputColumns:
        """What ``score_chunk`` adds for ``model``, read from an empty chunk."""
        empty = pd.DataFrame({SCORED_TEXT: pd.Series([], dtype=object)})
        added = score_chunk(model, empty, SCORED_TEXT).columns.drop(SCORED_TEXT)
        return cls(tuple(str(c) for c in added), prefix)

    def name(self, column: str) -> str:
        return f"{self.prefix}{column}"

    @property
    def status(self) -> str:
        return self.name(STATUS_COLUMN)

    @property
    def reserved(self) -> list[str]:
        """Every name the scored output or the quarantine adds."""
        return [self.name(c) for c in (*self.added, INPUT_ROW, INPUT_LINES)]

    def check(self, inputs: Iterable[object]) -> None:
        """Exit-2 error listing every input column the outputs would overwrite."""
        reserved = set(self.reserved)
        clashes = [str(c) for c in inputs
                   if str(c) in reserved or str(c).startswith(INTERNAL_PREFIX)]
        if clashes:
            hint = "" if self.prefix else " or pass --output-prefix (e.g. --output-prefix ic_)"
            raise BatchError(f"input column(s) {clashes} have the names of columns the output "
                             f"adds and would be overwritten; rename them{hint}")

    def prefixed(self, added: pd.DataFrame) -> pd.DataFrame:
        return added.rename(columns=self.name) if self.prefix else added

    def unprefixed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The added columns under their own names (what the report reads); input columns
        with those names are left out."""
        if not self.prefix:
            return frame
        kept = frame.drop(columns=[c for c in self.added if c in frame.columns])
        return kept.rename(columns={self.name(c): c for c in self.added})


def score_added(model: Model, frame: pd.DataFrame, text_column: str,
                **overrides: dict[str, float] | None) -> pd.DataFrame:
    """``score_chunk`` on the text alone: only the added columns, unprefixed, so input
    columns never meet prediction columns inside it."""
    scoring = pd.DataFrame({SCORED_TEXT: frame[text_column]}, index=frame.index)
    if READ_STATUS in frame.columns:
        scoring[READ_STATUS] = frame[READ_STATUS]
    return score_chunk(model, scoring, SCORED_TEXT, **overrides).drop(columns=[SCORED_TEXT])
