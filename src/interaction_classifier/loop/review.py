"""Review files: the rows to correct out of a scored file, the corrections back in.

``export`` writes one row per chosen message: a stable id (``input_row``, the 1-based data
row of the scored file, and the user's id column if given), the text for the reviewer, the
model's labels (``model_<head>``), one ``correct_<head>`` column per head pre-filled with
them, an empty ``skip`` column (1: not a customer message) and the reasons it was chosen.
``import`` checks a corrected file against the model's labels and writes a corrections file
(``training.corrections``): ids and labels only when the rows come from a registered dataset
(``--dataset``), the text kept only for the user's own files.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from interaction_classifier.loop.select import select_for_review

ORIGIN = "review"
MAX_PROBLEMS = 20


class ReviewError(ValueError):
    """A review file that cannot be used; the message lists the rows and what is wrong."""


def scored_heads(scored: pd.DataFrame) -> list[str]:
    """The classifier heads of a scored file (those with ``p_<head>__`` columns)."""
    heads = list(dict.fromkeys(c[2:].split("__", 1)[0] for c in scored.columns
                               if c.startswith("p_") and "__" in c))
    if not heads:
        raise ReviewError("no p_<head>__<label> columns: give a file written by "
                          "`interaction-classifier score`")
    return heads


def correctable_heads(scored: pd.DataFrame) -> dict[str, str]:
    """Head -> the scored column holding the model's label (urgency: the priority tier)."""
    heads = {h: h for h in scored_heads(scored)}
    if "priority" in scored.columns:
        heads["urgency"] = "priority"
    return heads


@dataclass
class ExportOptions:
    """What ``review export`` needs besides the scored table."""

    n: int = 500
    text_column: str = "text"
    id_column: str | None = None
    dataset: str | None = None
    seed: int = 13


def export_rows(scored: pd.DataFrame, opts: ExportOptions) -> pd.DataFrame:
    """The review table: the ``opts.n`` rows the strategy ranks first, best first."""
    for column in [opts.text_column, *([opts.id_column] if opts.id_column else [])]:
        if column not in scored.columns:
            raise ReviewError(f"column {column!r} not in the scored file; columns: "
                              f"{list(scored.columns)[:12]}...")
    scored = scored.assign(input_row=range(1, len(scored) + 1))
    if "status" in scored.columns:  # quarantined rows have no predictions to correct
        scored = scored[scored["status"].fillna("ok") == "ok"]
    scored = scored.reset_index(drop=True)
    texts = scored[opts.text_column].fillna("").astype(str).tolist()
    heads = correctable_heads(scored)
    chosen = select_for_review(scored, texts, scored_heads(scored), opts.n, opts.seed)
    rows = scored.iloc[chosen["position"]].reset_index(drop=True)
    out = pd.DataFrame({"review_rank": range(1, len(rows) + 1), "input_row": rows["input_row"]})
    if opts.id_column:
        out["id"] = rows[opts.id_column].astype("string").to_numpy()
    out["dataset"] = opts.dataset or ""
    out["text"] = rows[opts.text_column].to_numpy()
    for head, column in heads.items():
        out[f"model_{head}"] = rows[column].to_numpy()
    for head, column in heads.items():
        out[f"correct_{head}"] = rows[column].to_numpy()
    out["skip"] = ""
    out["reasons"] = chosen["reasons"].to_numpy()
    out["score"] = chosen["score"].to_numpy()
    if "model_version" in rows.columns:
        out["model_version"] = rows["model_version"].to_numpy()
    return out


def _problems(review: pd.DataFrame, labels: dict[str, list[str]]) -> list[str]:
    """Every unusable cell, by line of the CSV (the header is line 1)."""
    problems = []
    line = pd.Series(range(2, len(review) + 2), index=review.index)
    missing = [f"correct_{h}" for h in labels if f"correct_{h}" not in review.columns]
    if missing or "input_row" not in review.columns:
        return [f"missing column(s) {missing or ['input_row']}; columns: {list(review.columns)}"]
    ids = row_ids(review)
    for pos in review.index[ids == ""]:
        problems.append(f"line {line[pos]}: missing id (input_row / id)")
    dup = ids[(ids != "") & ids.duplicated(keep=False)]
    for value, group in dup.groupby(dup):
        problems.append(f"lines {', '.join(str(line[p]) for p in group.index)}: duplicate id "
                        f"{value!r}")
    for head, allowed in labels.items():
        values = review[f"correct_{head}"].fillna("").astype(str).str.strip()
        for pos in review.index[(values != "") & ~values.isin(allowed)]:
            problems.append(f"line {line[pos]}: correct_{head} {values[pos]!r} is not a label "
                            f"of the model (one of {allowed})")
    skip = review.get("skip", pd.Series("", index=review.index)).fillna("").astype(str)
    for pos in review.index[~skip.str.strip().isin(["", "0", "1"])]:
        problems.append(f"line {line[pos]}: skip must be empty, 0 or 1, not {skip[pos]!r}")
    return problems


def row_ids(review: pd.DataFrame) -> pd.Series:
    """The row's id: the user's ``id`` column if the file has one, else ``input_row``."""
    column = "id" if "id" in review.columns else "input_row"
    return review[column].fillna("").astype(str).str.strip()


def import_rows(review: pd.DataFrame, labels: dict[str, list[str]]) -> pd.DataFrame:
    """The corrections table for ``train --corrections``; a ReviewError lists every problem
    (at most ``MAX_PROBLEMS``) with its line."""
    review = review.reset_index(drop=True)
    problems = _problems(review, labels)
    if problems:
        more = len(problems) - MAX_PROBLEMS
        raise ReviewError("\n".join(problems[:MAX_PROBLEMS]
                                    + ([f"... and {more} more"] if more > 0 else [])))
    dataset = review.get("dataset", pd.Series("", index=review.index)).fillna("").astype(str)
    out = pd.DataFrame({"dataset": dataset.str.strip(), "source_id": row_ids(review)})
    for head in labels:
        out[head] = review[f"correct_{head}"].fillna("").astype(str).str.strip()
    skip = review.get("skip", pd.Series("", index=review.index)).fillna("").astype(str)
    out["skip"] = skip.str.strip().replace("0", "")
    out["origin"] = ORIGIN
    own = out["dataset"] == ""
    if own.any():  # the user's own messages: their text is theirs to keep
        if "text" not in review.columns:
            raise ReviewError("rows without a dataset need their text column")
        out["text"] = review["text"].where(own, "").fillna("")
    return out
