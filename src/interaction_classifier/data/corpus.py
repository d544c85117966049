"""Corpus builder: registered datasets -> one partially-labelled, de-duplicated, split table.

Labels come from the hand-reviewed mapping tables; the cue rules fill heads a mapping
left empty (only for sources that opt in) and every rule label records the pattern that
produced it. Gold-set rows, and any text that matches one after normalisation, are
removed so that the gold set stays an honest yardstick.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from interaction_classifier.config import HEADS, PROJECT_ROOT, Taxonomy, load_taxonomy, read_toml
from interaction_classifier.data.gold import GOLD_FILE, load_gold
from interaction_classifier.data.loaders import load
from interaction_classifier.data.mappings import apply_mapping
from interaction_classifier.text.cues import Cue, get_matcher

DEFAULT_CORPUS_CONFIG = PROJECT_ROOT / "configs" / "corpus.toml"
COLUMNS = ["text", "source", "source_id", "split", *HEADS, "label_origin", "rule_ids"]
_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NON_WORD = re.compile(r"[^0-9a-z]+")
# "How do I reset my PIN?" asks for information: a question even when its intent maps to
# `request` (the mapping principle in data/mappings/README.md, applied per message).
HOW_TO = re.compile(r"^\s*(how (do|can|would|should|could) i|how to|where (can|do|should) i|"
                    r"what do i (need|have) to|what is the process|what's the process)\b", re.I)
HOW_TO_RULE = "interaction_type=form.how_to"

URGENCY_BY_DRIVER = {"risk": "critical", "churn_threat": "high", "repetition": "high",
                     "time_pressure": "high"}


@dataclass
class SourceSpec:
    """One ``[[sources]]`` entry of the corpus config."""

    dataset: str
    label_column: str | None = None
    mapping: str | None = None
    rules: bool = False
    max_rows: int | None = None
    drop_unmapped_rows: bool = False
    how_to_questions: bool = False
    include: dict[str, list[Any]] = field(default_factory=dict)
    exclude: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class CorpusConfig:
    """The parsed corpus config."""

    output: Path
    seed: int
    valid_fraction: float
    test_fraction: float
    sources: list[SourceSpec]
    annotations: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


def load_corpus_config(path: str | Path | None = None) -> CorpusConfig:
    """Parse ``configs/corpus.toml`` (or another file)."""
    raw = read_toml(path or DEFAULT_CORPUS_CONFIG)
    return CorpusConfig(
        output=PROJECT_ROOT / raw.get("output", "data/corpus/corpus.parquet"),
        seed=int(raw.get("seed", 13)),
        valid_fraction=float(raw.get("valid_fraction", 0.1)),
        test_fraction=float(raw.get("test_fraction", 0.1)),
        sources=[SourceSpec(**spec) for spec in raw["sources"]],
        annotations=list(raw.get("annotations", [])),
        written=list(raw.get("written", [])),
    )


def dedup_key(text: str) -> str:
    """Near-exact duplicate key: case, URLs, mentions, punctuation and spacing ignored."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    return _NON_WORD.sub(" ", text).strip()


def load_gold_keys() -> tuple[set[tuple[str, str]], set[str]]:
    """Gold (dataset, source_id) pairs and the dedup keys of their texts, to keep out."""
    gold = load_gold(GOLD_FILE)
    ids = set(zip(gold["dataset"], gold["source_id"], strict=True))
    return ids, {dedup_key(t) for t in gold["text"]}


def rule_labels(cues: list[Cue], taxonomy: Taxonomy) -> dict[str, tuple[str, str]]:
    """Labels the cue rules support, as ``head -> (label, pattern id)``.

    interaction_type takes the strongest act by the taxonomy's precedence, then the
    remaining labels in taxonomy order; journey_stage only when exactly one stage fires;
    urgency from the strongest driver, or ``low`` when only urgency-lowering cues fired.
    """
    out: dict[str, tuple[str, str]] = {}
    by_head: dict[str, list[Cue]] = {}
    for cue in cues:
        by_head.setdefault(cue.head, []).append(cue)
    acts = by_head.get("interaction_type", [])
    if acts:
        head = taxonomy.heads["interaction_type"]
        order = list(head.precedence) + [lab for lab in head.labels if lab not in head.precedence]
        best = min(acts, key=lambda c: order.index(c.label))
        out["interaction_type"] = (best.label, best.id)
    stages = by_head.get("journey_stage", [])
    if stages and len({c.label for c in stages}) == 1:
        out["journey_stage"] = (stages[0].label, stages[0].id)
    urgency = by_head.get("urgency", [])
    raising = [c for c in urgency if not c.lowers and c.label in URGENCY_BY_DRIVER]
    if raising:
        tiers = list(taxonomy.labels("urgency"))
        best = min(raising, key=lambda c: tiers.index(URGENCY_BY_DRIVER[c.label]))
        out["urgency"] = (URGENCY_BY_DRIVER[best.label], best.id)
    elif urgency and all(c.lowers for c in urgency) and "interaction_type" in out \
            and out["interaction_type"][0] == "compliment":
        out["urgency"] = ("low", urgency[0].id)
    return out


def _filter(df: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    for column, values in spec.include.items():
        df = df[df[column].isin(values)]
    for column, values in spec.exclude.items():
        df = df[~df[column].isin(values)]
    return df


def _label_source(spec: SourceSpec, taxonomy: Taxonomy, seed: int,
                  annotated: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Load one source and give it the corpus columns (split is assigned later). A
    ``max_rows`` sample keeps every ``annotated`` row too: a cap must not drop hand labels."""
    df = _filter(load(spec.dataset), spec)
    if spec.max_rows and len(df) > spec.max_rows:
        sampled = df.sample(n=spec.max_rows, random_state=seed)
        missed = df[df["source_id"].isin(annotated) & ~df.index.isin(sampled.index)]
        df = pd.concat([sampled, missed]).sort_index()
    if spec.mapping:
        df = apply_mapping(df, spec.mapping, spec.label_column or "")
        if spec.drop_unmapped_rows:
            df = df[df["label_origin"].notna()]
    else:
        df = df.assign(**{h: pd.Series(pd.NA, index=df.index, dtype="string") for h in HEADS},
                       label_origin=pd.Series(pd.NA, index=df.index, dtype="string"))
    df["rule_ids"] = pd.Series(pd.NA, index=df.index, dtype="string")
    if spec.how_to_questions:
        df = how_to_questions(df)
    if spec.rules:
        df = _apply_rules(df, taxonomy)
    return df[[c for c in COLUMNS if c != "split"]]


def how_to_questions(df: pd.DataFrame) -> pd.DataFrame:
    """Mapped ``request`` rows phrased as how-to questions become ``question``, recorded as
    a rule label (an intent mapping cannot see the phrasing of each message)."""
    hit = (df["interaction_type"] == "request").fillna(False) & df["text"].str.match(HOW_TO)
    df = df.copy()
    df.loc[hit, "interaction_type"] = "question"
    df.loc[hit, "rule_ids"] = HOW_TO_RULE
    df.loc[hit, "label_origin"] = df.loc[hit, "label_origin"] + "+rule"
    return df


def _apply_rules(df: pd.DataFrame, taxonomy: Taxonomy) -> pd.DataFrame:
    """Fill missing heads from the cue rules and record which pattern did it."""
    matcher = get_matcher()
    df = df.copy()
    origins, rule_ids = df["label_origin"].tolist(), df["rule_ids"].tolist()
    for pos, (idx, text) in enumerate(df["text"].items()):
        used = []
        for head, (label, pattern_id) in rule_labels(matcher.match(text), taxonomy).items():
            if pd.isna(df.at[idx, head]):
                df.at[idx, head] = label
                used.append(f"{head}={pattern_id}")
        if used:
            earlier = [] if pd.isna(rule_ids[pos]) else [rule_ids[pos]]
            rule_ids[pos] = ";".join(earlier + used)
            if pd.isna(origins[pos]):
                origins[pos] = "rule"
            elif not origins[pos].endswith("rule"):  # a form rule may have marked it already
                origins[pos] = f"{origins[pos]}+rule"
    df["label_origin"] = pd.Series(origins, index=df.index, dtype="string")
    df["rule_ids"] = pd.Series(rule_ids, index=df.index, dtype="string")
    return df


def load_annotations(patterns: list[str], taxonomy: Taxonomy) -> pd.DataFrame:
    """Hand-labelled training rows (ids and labels only), validated against the taxonomy."""
    paths = _glob(patterns)
    if not paths:
        return pd.DataFrame(columns=["dataset", "source_id", *HEADS, "skip"])
    frame = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths],
                      ignore_index=True)
    for head in HEADS:
        bad = sorted(set(frame[head]) - set(taxonomy.labels(head)) - {""})
        if bad:
            raise ValueError(f"annotations: head {head!r} has unknown labels {bad}")
    if frame.duplicated(["dataset", "source_id"]).any():
        raise ValueError("annotations: a (dataset, source_id) is labelled twice")
    return frame


def _glob(patterns: list[str]) -> list[Path]:
    """Files matching project-relative glob patterns; a pattern matching nothing is an error."""
    paths = sorted({p for pattern in patterns for p in PROJECT_ROOT.glob(pattern)})
    if patterns and not paths:
        raise FileNotFoundError(f"no files match {patterns}")
    return paths


def load_written(patterns: list[str], taxonomy: Taxonomy) -> pd.DataFrame:
    """Example messages the team wrote itself (text and labels), as corpus rows."""
    parts = []
    for path in _glob(patterns):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for head in HEADS:
            bad = sorted(set(df[head]) - set(taxonomy.labels(head)) - {""})
            if bad:
                raise ValueError(f"{path}: head {head!r} has unknown labels {bad}")
        df = df.rename(columns={"id": "source_id"}).replace({"": pd.NA})
        parts.append(df.assign(source=f"written:{path.stem}", label_origin="written",
                               rule_ids=pd.NA))
    columns = [c for c in COLUMNS if c != "split"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(
        columns=columns)


def _apply_annotations(frame: pd.DataFrame, notes: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Hand labels replace mapping and rule labels; rows marked skip are removed."""
    notes = notes.set_index(["dataset", "source_id"])
    keys = list(zip(frame["source"], frame["source_id"], strict=True))
    hit = np.array([k in notes.index for k in keys])
    skip = np.zeros(len(frame), dtype=bool)
    frame = frame.copy()
    for pos in hit.nonzero()[0]:
        note = notes.loc[keys[pos]]
        if note["skip"] == "1":
            skip[pos] = True
            continue
        idx = frame.index[pos]
        for head in HEADS:
            frame.at[idx, head] = note[head] or pd.NA
        frame.at[idx, "label_origin"] = "hand"
        frame.at[idx, "rule_ids"] = pd.NA
    return frame[~skip], int(skip.sum())


def _assign_splits(keys: pd.Series, cfg: CorpusConfig) -> pd.Series:
    """Deterministic split from a hash of the dedup key: one text, one split."""
    def split_of(key: str) -> str:
        digest = hashlib.sha256(f"{cfg.seed}:{key}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        if u < cfg.test_fraction:
            return "test"
        return "valid" if u < cfg.test_fraction + cfg.valid_fraction else "train"

    return keys.map(split_of)


@dataclass
class BuildReport:
    """What the build did, for the CLI and the datasheet."""

    rows_loaded: int
    rows_skipped_by_annotators: int
    rows_gold_removed: int
    rows_duplicates_removed: int
    rows_unlabelled_removed: int
    rows_written: int
    fingerprint: str


def build_corpus(cfg: CorpusConfig | None = None) -> tuple[pd.DataFrame, BuildReport]:
    """Assemble, de-duplicate, remove gold overlap and split; returns the table and a report."""
    cfg = cfg or load_corpus_config()
    taxonomy = load_taxonomy()
    notes = load_annotations(cfg.annotations, taxonomy)
    frame = pd.concat([*(_label_source(s, taxonomy, cfg.seed, frozenset(
        notes.loc[notes["dataset"] == s.dataset, "source_id"])) for s in cfg.sources),
                       load_written(cfg.written, taxonomy)], ignore_index=True)
    loaded = len(frame)
    frame, skipped = _apply_annotations(frame, notes)
    frame["_key"] = frame["text"].map(dedup_key)
    gold_ids, gold_keys = load_gold_keys()
    in_gold = frame.apply(lambda r: (r["source"], r["source_id"]) in gold_ids, axis=1)
    in_gold |= frame["_key"].isin(gold_keys)
    frame = frame[~in_gold & (frame["_key"] != "")]
    gold_removed = loaded - skipped - len(frame)
    before = len(frame)
    frame = frame.drop_duplicates("_key", keep="first")
    dup_removed = before - len(frame)
    labelled = frame[list(HEADS)].notna().any(axis=1)
    unlabelled_removed = int((~labelled).sum())
    frame = frame[labelled].copy()
    frame["split"] = _assign_splits(frame["_key"], cfg)
    frame = frame.sort_values(["source", "source_id"], kind="stable")[COLUMNS]
    frame = frame.reset_index(drop=True).astype({c: "string" for c in COLUMNS})
    report = BuildReport(loaded, skipped, gold_removed, dup_removed, unlabelled_removed, len(frame),
                         fingerprint(frame))
    return frame, report


def fingerprint(frame: pd.DataFrame) -> str:
    """Content hash of a corpus table, independent of file encoding."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def write_corpus(frame: pd.DataFrame, path: Path) -> Path:
    """Write Parquet deterministically (same frame, same bytes), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", write_statistics=False)
    tmp.replace(path)
    return path


def read_corpus(path: str | Path | None = None) -> pd.DataFrame:
    """Read a built corpus with a clear error when it has not been built yet."""
    path = Path(path) if path else load_corpus_config().output
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus not found at {path}; build it with `interaction-classifier corpus build`"
        )
    return pd.read_parquet(path)


def counts_markdown(frame: pd.DataFrame) -> str:
    """Per head, a source x label count table in Markdown (for the datasheet)."""
    parts = []
    for head in HEADS:
        table = pd.crosstab(frame["source"], frame[head], margins=True, margins_name="total")
        parts.append(f"#### {head}\n\n{table.to_markdown()}\n")
    origin = pd.crosstab(frame["source"], frame["label_origin"], margins=True,
                         margins_name="total")
    parts.append(f"#### label origin\n\n{origin.to_markdown()}\n")
    splits = pd.crosstab(frame["source"], frame["split"], margins=True, margins_name="total")
    parts.append(f"#### splits\n\n{splits.to_markdown()}\n")
    return "\n".join(parts)
