"""Spark scoring against the local scorer, with the real shipped model, on local[2].

Every input is written into ``tmp_path`` and salted with bad rows (nulls, numbers, lists,
empty and blank texts, a 1 MB text, bytes that are not UTF-8, broken records). The same
file is scored by ``batch.run`` and by ``spark.run``; rows are matched on their input
columns (Spark does not keep input order) and must agree on status and every prediction.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.batch.chunks import READ_STATUS, score_chunk
from interaction_classifier.batch.formats import BatchError
from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.cli.score import score_command
from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.models.artifact import ArtifactError
from tests.helpers.tiny_model import build_tiny_model, generate


def _require_spark() -> None:
    """pyspark and Java must be there under CI (the [spark] extra); elsewhere skip."""
    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing.append("java (apt-get install openjdk-17-jre-headless)")
    if not missing:
        return
    message = f"Spark tests need {', '.join(missing)}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message, allow_module_level=True)


_require_spark()

from pyspark.sql import SparkSession  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

from interaction_classifier.batch import spark as ic_spark  # noqa: E402
from interaction_classifier.batch import spark_run  # noqa: E402

EXAMPLES = PROJECT_ROOT / "examples" / "messages.csv"
ONE_MB = "a" * (1 << 20)  # over text.validate.MAX_TEXT_CHARS: too_large on both engines
LABELS = ["interaction_type", "journey_stage", "sentiment", "priority", "needs_review",
          "status", "model_version"]


@pytest.fixture(scope="module")
def spark():
    session = (SparkSession.builder.master("local[2]").appName("ic-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    yield session
    session.stop()


def texts(n: int) -> list[str]:
    """``n`` real example messages."""
    base = pd.read_csv(EXAMPLES, dtype=str, keep_default_na=False)["text"].tolist()
    return [base[i % len(base)] for i in range(n)]


def both(tmp_path: Path, spark: SparkSession, source: Path, local_source: Path | None = None,
         chunk_size: int = 7, **options: object) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """Score ``source`` on Spark and ``local_source`` (default the same) locally, with the
    same ``options`` (model, review, priority)."""
    local_out = tmp_path / "local.parquet"
    local = run(ScoreOptions(input=local_source or source, output=local_out, quiet=True,
                             chunk_size=chunk_size, **options))
    spark_out = tmp_path / "spark.scored.parquet"
    if options.get("model") is not None:
        options["model"] = str(options["model"])
    remote = spark_run.run(spark_run.SparkOptions(input=source, output=spark_out,
                                                  chunk_size=chunk_size, **options), spark)
    return (pq.read_table(local_out).to_pandas(), pq.read_table(spark_out).to_pandas(),
            local, remote)


def assert_same_scores(local: pd.DataFrame, remote: pd.DataFrame, key: list[str],
                       labels: list[str] = LABELS, tolerance: float = 1e-9) -> None:
    """Same rows (matched on ``key``), same labels and statuses, probabilities to
    ``tolerance``."""
    assert len(local) == len(remote)
    local = local.assign(_k=local[key].map(str).agg("|".join, axis=1)).set_index("_k")
    remote = remote.assign(_k=remote[key].map(str).agg("|".join, axis=1)).set_index("_k")
    assert local.index.is_unique
    assert sorted(local.index) == sorted(remote.index)
    remote = remote.loc[local.index]
    assert list(remote.columns) == list(local.columns)
    for column in labels:
        assert local[column].astype(str).tolist() == remote[column].astype(str).tolist(), column
    numeric = [c for c in local.columns if c.startswith("p_") or c in ("urgency",
                                                                       "sentiment_score")]
    diff = (local[numeric].astype(float) - remote[numeric].astype(float)).abs()
    assert (diff.fillna(0) <= tolerance).all().all()
    assert local[numeric].isna().equals(remote[numeric].isna())


def assert_quarantine(tmp_path: Path, remote: pd.DataFrame, summary: dict) -> None:
    quarantine = pq.read_table(tmp_path / "spark.scored.quarantine.parquet").to_pandas()
    assert sorted(quarantine["status"]) == sorted(remote.loc[remote["status"] != "ok",
                                                             "status"])
    assert summary["flagged"] == len(quarantine)
    assert summary["rows_in"] == summary["rows_out"] == len(remote)
    assert json.loads((tmp_path / "spark.scored.summary.json").read_text()) == summary


def test_parquet_parity_with_bad_rows(tmp_path: Path, spark: SparkSession) -> None:
    values = [*texts(20), None, "", "   \t", ONE_MB, "caf\ufffd au lait"]
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(len(values))], "text": values}),
                   source)
    local, remote, local_summary, summary = both(tmp_path, spark, source)
    assert_same_scores(local, remote, ["id"])
    assert summary["flagged_by_reason"] == local_summary["flagged_by_reason"] == {
        "empty_text": 2, "missing_text": 1, "too_large": 1, "undecodable": 1}
    assert_quarantine(tmp_path, remote, summary)


def test_numbers_in_a_parquet_text_column_are_non_text(tmp_path: Path,
                                                        spark: SparkSession) -> None:
    source = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": pa.array([42, None, 7])}), source)
    local, remote, _, summary = both(tmp_path, spark, source)
    assert_same_scores(local, remote, ["id"])
    assert summary["flagged_by_reason"] == {"missing_text": 1, "non_text": 2}


def salted_csv(path: Path) -> None:
    good = [f'ok-{i},"{t.replace(chr(34), chr(34) * 2)}"'.encode() for i, t in
            enumerate(texts(12))]
    lines = [b"ticket_id,text", *good, b"empty-1,", b'blank-1,"   "',
             b"bytes-1,caf\xe9 au lait is cold \xff\xfe", b"long-1," + ONE_MB.encode(),
             b'extra-1,"too",many,fields', b"short-1", b"number-1,42",
             b'multi-1,"two\nlines, one record"', b"", b"zeros-1,007"]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_csv_parity_with_bad_rows(tmp_path: Path, spark: SparkSession) -> None:
    source = tmp_path / "in.csv"
    salted_csv(source)
    local, remote, local_summary, summary = both(tmp_path, spark, source)
    assert_same_scores(local, remote, ["ticket_id"])
    assert summary["flagged_by_reason"] == local_summary["flagged_by_reason"] == {
        "empty_text": 2, "malformed_row": 1, "missing_text": 1, "too_large": 1,
        "undecodable": 1}
    assert remote.loc[remote["ticket_id"] == "zeros-1", "text"].item() == "007"
    assert_quarantine(tmp_path, remote, summary)


def salted_jsonl(path: Path) -> None:
    good = [json.dumps({"n": i, "text": t, "vip": i % 2 == 0}).encode() for i, t in
            enumerate(texts(12), start=100)]
    lines = [
        *good,
        json.dumps({"n": 2, "text": None}).encode(),
        json.dumps({"n": 3, "text": 42}).encode(),
        json.dumps({"n": 4, "text": ["a", "list"]}).encode(),
        json.dumps({"n": 5, "text": {"an": "object"}}).encode(),
        json.dumps({"n": 6}).encode(),
        b'{"n": 7, "text": "unterminated',
        b"not json at all",
        b"[1, 2, 3]",
        b'{"n": 10, "text": "bad byte \xff here"}',
        json.dumps({"n": 11, "text": ONE_MB}).encode(),
        json.dumps({"n": 12, "text": ""}).encode(),
        b"   ",
        json.dumps({"n": 13, "text": "   "}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_jsonl_parity_with_bad_rows_and_mixed_types(tmp_path: Path,
                                                     spark: SparkSession) -> None:
    source = tmp_path / "in.jsonl"
    salted_jsonl(source)
    local, remote, local_summary, summary = both(tmp_path, spark, source)
    assert_same_scores(local, remote, ["n", "text"])
    assert summary["flagged_by_reason"] == local_summary["flagged_by_reason"] == {
        "empty_text": 2, "malformed_json": 3, "missing_text": 2, "non_text": 3,
        "too_large": 1, "undecodable": 1}
    assert remote.loc[remote["n"] == 3, "text"].item() == "42"
    assert remote["n"].dtype == "float64" and remote["vip"].dtype == "object"
    assert_quarantine(tmp_path, remote, summary)


def test_directory_of_parts(tmp_path: Path, spark: SparkSession) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    frames = []
    for i in range(3):
        frame = pd.DataFrame({"id": [f"{i}-{j}" for j in range(9)], "text": texts(9)})
        frame.loc[i, "text"] = None
        frame.to_json(parts / f"part-{i:05d}.jsonl.gz", orient="records", lines=True,
                      compression="gzip")
        frames.append(frame)
    (parts / "_SUCCESS").write_bytes(b"")
    (parts / ".part-00000.jsonl.gz.crc").write_bytes(b"crc")
    whole = tmp_path / "whole.jsonl.gz"
    whole.write_bytes(gzip.compress(b"".join(
        gzip.decompress(p.read_bytes()) for p in sorted(parts.glob("part-*")))))
    local, remote, _, summary = both(tmp_path, spark, parts, local_source=whole)
    assert_same_scores(local, remote, ["id"])
    assert summary["rows_in"] == summary["rows_out"] == 27
    assert summary["flagged_by_reason"] == {"missing_text": 3}


def test_score_dataframe_keeps_columns_and_types(spark: SparkSession) -> None:
    schema = T.StructType([
        T.StructField("id", T.LongType()),
        T.StructField("amount", T.DecimalType(10, 2)),
        T.StructField("meta", T.StructType([T.StructField("queue", T.StringType())])),
        T.StructField("body", T.StringType()),
        T.StructField(READ_STATUS, T.StringType()),
    ])
    rows = [(1, Decimal("9.99"), ("billing",), "I was charged twice", None),
            (2, None, None, None, None),
            (3, Decimal("0.10"), ("web",), "{broken", "malformed_json")]
    df = spark.createDataFrame(rows, schema)
    model = load_model()
    out = ic_spark.score_dataframe(df, text_col="body", model=model)
    assert out.schema.fields[:4] == df.schema.fields[:4]
    assert READ_STATUS not in out.columns
    got = out.orderBy("id").toPandas()
    expected = score_chunk(model, pd.DataFrame({"body": ["I was charged twice", None,
                                                         "{broken"],
                                                READ_STATUS: [None, None, "malformed_json"]}),
                           "body")
    assert got["status"].tolist() == expected["status"].tolist()
    assert got["interaction_type"].tolist()[0] == expected["interaction_type"].iloc[0]
    assert got["meta"].iloc[0]["queue"] == "billing"


def test_score_dataframe_refuses_clashing_columns(spark: SparkSession) -> None:
    df = spark.createDataFrame([("hello", "x")], "text string, status string")
    with pytest.raises(BatchError, match=r"\['status'\] .* would be overwritten"):
        ic_spark.score_dataframe(df)


def test_shipped_model_is_verified_and_cached(tmp_path: Path) -> None:
    model = load_model()
    shipment = ic_spark.ModelShipment.of(model.path)
    assert ic_spark.cached_model(shipment) is ic_spark.cached_model(shipment)
    assert ic_spark.cached_model(shipment).version == model.version
    tampered = dict(shipment.files)
    tampered["weights.npz"] = tampered["weights.npz"][:-10]
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        ic_spark.ModelShipment(tampered, shipment.digest).load()


def cli(*args: str) -> object:
    app = typer.Typer()
    app.command()(score_command)
    return CliRunner().invoke(app, list(args))


def test_cli_engine_spark(tmp_path: Path, spark: SparkSession) -> None:
    source = tmp_path / "in.csv"
    salted_csv(source)
    output = tmp_path / "out.parquet"
    result = cli(str(source), "-o", str(output), "--engine", "spark", "--spark-master",
                 "local[2]", "--partitions", "3")
    assert result.exit_code == 0, result.output
    assert "rows in = rows out: yes" in result.output
    assert len(list(output.glob("part-*.parquet"))) == 3
    assert pq.read_table(output).num_rows == 21
    assert pq.read_table(tmp_path / "out.quarantine.parquet").num_rows == 6  # 1 MiB: too_large


@pytest.mark.parametrize("args,message", [
    (["--engine", "spark", "--queue", "q.csv"], "--queue not supported"),
    (["--engine", "spark", "--queue-by", "review"], "--queue-by not supported"),
    (["--engine", "spark", "--review-threshold", "sentiment"], "expected NAME=NUMBER"),
    (["--engine", "spark", "--workers", "2"], "--workers not supported"),
    (["--engine", "flink"], "unknown --engine"),
    (["--engine", "spark", "-o", "out.csv"], "name the output *.parquet"),
])
def test_cli_engine_spark_refuses(tmp_path: Path, args: list[str], message: str) -> None:
    source = tmp_path / "in.csv"
    salted_csv(source)
    result = cli(str(source), *[str(tmp_path / a) if a.endswith(".csv") else a
                                for a in args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_spark_output_scored_again_onto_itself_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "scored.parquet"
    source.mkdir()
    pq.write_table(pa.table({"text": ["hello"]}), source / "part-0.parquet")
    (source / "_SUCCESS").touch()
    result = cli(str(source), "-o", str(source), "--engine", "spark")
    assert result.exit_code == 2 and "is the input" in result.output
    assert pq.read_table(source).num_rows == 1


def test_output_folder_that_is_not_a_spark_output_is_refused(tmp_path: Path,
                                                            spark: SparkSession) -> None:
    source = tmp_path / "in.csv"
    salted_csv(source)
    output = tmp_path / "precious.parquet"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    result = cli(str(source), "-o", str(output), "--engine", "spark")
    assert result.exit_code == 2 and "not a Spark output" in result.output
    assert (output / "notes.txt").read_text() == "keep me"


def test_a_batch_of_only_bad_rows(spark: SparkSession) -> None:
    df = spark.createDataFrame(pd.DataFrame({"text": [None, "", "  "]}, dtype=object),
                               "text string").coalesce(1)
    got = ic_spark.score_dataframe(df).toPandas()
    assert got["status"].tolist() == ["missing_text", "empty_text", "empty_text"]
    assert got["interaction_type"].isna().all() and got["urgency"].isna().all()


def test_model_without_urgency_with_overrides(tmp_path: Path, spark: SparkSession) -> None:
    tiny = build_tiny_model(tmp_path / "tiny")
    texts = [r["text"] for r in generate(30, seed=4)]
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(32)],
                             "text": [*texts, None, ""]}), source)
    local, remote, local_summary, summary = both(tmp_path, spark, source, model=tiny,
                                                 review={"topic": 0.75})
    assert_same_scores(local, remote, ["id"],
                       ["topic", "intent", "needs_review", "status", "model_version"])
    assert not {"urgency", "priority", "sentiment_score"} & set(remote.columns)
    assert summary["needs_review"] == local_summary["needs_review"]
    assert 0 < summary["needs_review"] < 30 and summary["priority_tiers"] == {}
    assert summary["thresholds"]["review"]["topic"] == 0.75
    assert_quarantine(tmp_path, remote, summary)


def test_accurate_profile_on_spark_matches_local(tmp_path: Path, spark: SparkSession) -> None:
    """The accurate profile (encoder files in sub-folders, a signed base model inside) is
    shipped to the executors by name and scores what the local scorer scores."""
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(12)],
                             "text": [*texts(10), None, "$" * 5000]}), source)
    local, remote, local_summary, summary = both(tmp_path, spark, source, model="accurate")
    assert local_summary["flagged"] == summary["flagged"] == 1
    # float32 encoder and head products round by batch shape: ~1e-7 between partitionings
    assert_same_scores(local, remote, ["id"], tolerance=1e-6)
    assert summary["model_version"] == load_model("accurate").version != load_model().version
    assert summary["rows_in"] == summary["rows_out"] == 12
    assert_quarantine(tmp_path, remote, summary)


def test_cli_engine_spark_overrides(tmp_path: Path, spark: SparkSession) -> None:
    source = tmp_path / "in.csv"
    salted_csv(source)
    output = tmp_path / "out.parquet"
    result = cli(str(source), "-o", str(output), "--engine", "spark", "--priority-cutoff",
                 "critical=0", "--review-threshold", "sentiment=1")
    assert result.exit_code == 0, result.output
    scored = pq.read_table(output).to_pandas().query("status == 'ok'")
    assert scored["priority"].eq("critical").all() and scored["needs_review"].all()
    bad = cli(str(source), "-o", str(tmp_path / "bad.parquet"), "--engine", "spark",
              "--priority-cutoff", "urgent=0.5")
    assert bad.exit_code == 2 and "unknown tier 'urgent'" in bad.output
