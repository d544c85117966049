"""Model file formats compared on one model: size, and the time to load it warm (median of
``--repeat`` runs in this process).

Rows: our ``model.json`` + ``weights.npz`` (decode alone, and ``load_artifact``: signature,
checksums and decode), ``skops.io`` with the package's classes trusted, and ``joblib`` (the
old pickle format, written to a temporary folder here: never load a pickle you did not
write). Prints a table; records nothing.
Usage: python benchmarks/artifact_format.py [--model models/default] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from interaction_classifier.config import DEFAULT_MODEL_DIR
from interaction_classifier.models import codec
from interaction_classifier.models.artifact import MODEL_JSON, WEIGHTS, load_artifact


def median_seconds(load: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``load()`` after one warm-up call."""
    load()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        load()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def rows(model_dir: Path, repeat: int) -> list[tuple[str, float, float]]:
    """(format, MB, seconds) for every format that can be measured here."""
    model, _ = load_artifact(model_dir, trust_unsigned=True)
    model_json, weights = (model_dir / MODEL_JSON).read_bytes(), (model_dir / WEIGHTS).read_bytes()
    size = (len(model_json) + len(weights)) / 1e6
    out = [("npz + json: decode", size, median_seconds(lambda: codec.decode(model_json, weights),
                                                      repeat)),
           ("npz + json: load_artifact", size, median_seconds(
               lambda: load_artifact(model_dir, trust_unsigned=True), repeat))]
    with tempfile.TemporaryDirectory() as tmp:
        import joblib

        path = Path(tmp) / "model.joblib"
        joblib.dump(model, path, compress=3)
        out.append(("joblib (pickle)", path.stat().st_size / 1e6,
                    median_seconds(lambda: joblib.load(path), repeat)))
        try:
            import skops.io as sio
        except ImportError:
            return out
        path = Path(tmp) / "model.skops"
        sio.dump(model, path)
        trusted = sio.get_untrusted_types(file=path)
        out.append((f"skops ({len(trusted)} types trusted)", path.stat().st_size / 1e6,
                    median_seconds(lambda: sio.load(path, trusted=trusted), repeat)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'format':32} {'MB':>6} {'load s':>7}")
    for name, mb, seconds in rows(args.model, args.repeat):
        print(f"{name:32} {mb:6.1f} {seconds:7.3f}")


if __name__ == "__main__":
    main()
