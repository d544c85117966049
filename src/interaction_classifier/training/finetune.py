"""Multi-task fine-tuning of the pinned all-MiniLM-L6-v2 encoder (the ``train`` extra).

Frozen embeddings with logistic heads are a modest complement to the fast model (round 12);
the literature's large gains come from fine-tuning the encoder itself. One encoder is trained
with a linear head per label set (interaction_type, journey_stage, sentiment and the urgency
text tiers) on mean-pooled, L2-normalised token vectors, exactly as ``features.encoder``
pools them at inference. A row counts only for the heads it is labelled for; each head's
loss is weighted by origin and source (``[model]``, as every head) times balanced class
weights. AdamW with linear warm-up and decay; the state with the lowest loss on a stratified
sample of the corpus ``valid`` split is kept (never gold). The result is exported to ONNX in
the stage-1 encoder's interface (last hidden layer), so the accurate profile runs it with
onnxruntime and tokenizers only, and the heads become ordinary ``LinearHead`` weights.
"""

from __future__ import annotations

import copy
import hashlib
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interaction_classifier.features.encoder import EncoderFiles, OnnxEncoder
from interaction_classifier.models.model import LinearHead
from interaction_classifier.training.config import FinetuneConfig
from interaction_classifier.training.encoder_export import (
    GRAPH,
    TOKENIZER,
    extract_pinned,
    last_hidden,
    write_graph,
)
from interaction_classifier.training.weights import head_weights


@dataclass
class Finetuned:
    """The exported encoder, its heads (keyed by corpus column) and what the fit measured."""

    files: EncoderFiles
    heads: dict[str, LinearHead]
    log: dict[str, Any]


def stratified_sample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """About ``n`` rows, each source keeping its share (at least one row); 0 or more rows
    than the frame: all of it."""
    if not n or n >= len(frame):
        return frame
    share = n / len(frame)
    parts = [
        g.sample(n=max(1, round(len(g) * share)), random_state=seed)
        for _, g in frame.groupby("source", sort=True)
    ]
    return pd.concat(parts).sort_index()


def head_targets(
    rows: pd.DataFrame, classes: dict[str, list[str]], mcfg: dict
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per head: class index per row (-1 when unlabelled) and loss weight (0 when unlabelled):
    origin x source weight x balanced class weight, averaging 1 over the labelled rows."""
    out = {}
    for head, labels in classes.items():
        mask = rows[head].notna().to_numpy()
        index = np.full(len(rows), -1, dtype=np.int64)
        weight = np.zeros(len(rows), dtype=np.float32)
        if mask.any():
            labelled = rows[mask]
            index[mask] = [labels.index(v) for v in labelled[head]]
            counts = np.bincount(index[mask], minlength=len(labels)).astype(np.float64)
            balanced = mask.sum() / (len(labels) * np.maximum(counts, 1.0))
            w = head_weights(labelled, head, mcfg) * balanced[index[mask]]
            weight[mask] = w / w.mean()
        out[head] = (index, weight)
    return out


def multitask_model(bert, sizes: dict[str, int], scale: float):
    """The encoder plus one linear head per label set on ``scale`` x the unit embedding."""
    import torch

    class MultiTask(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.heads = torch.nn.ModuleDict(
                {h: torch.nn.Linear(bert.config.hidden_size, k) for h, k in sizes.items()}
            )

        def embed(self, ids, mask):
            hidden = self.bert(
                input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)
            ).last_hidden_state
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

        def forward(self, ids, mask):
            z = scale * self.embed(ids, mask)
            return {h: head(z) for h, head in self.heads.items()}

    return MultiTask()


def padded(tokenizer, texts: list[str]):
    """Token ids and attention mask of ``texts``, padded to the longest."""
    import torch

    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    width = max(len(i) for i in ids)
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    return torch.tensor([i + [0] * (width - len(i)) for i in ids]), mask


def batch_loss(logits: dict, targets: dict[str, tuple[np.ndarray, np.ndarray]], rows: np.ndarray):
    """Sum over heads of the weighted mean cross-entropy over the rows labelled for it."""
    import torch

    total = 0.0
    for head, (index, weight) in targets.items():
        w = torch.from_numpy(weight[rows])
        if float(w.sum()) == 0.0:
            continue
        y = torch.from_numpy(np.maximum(index[rows], 0))
        ce = torch.nn.functional.cross_entropy(logits[head], y, reduction="none")
        total = total + (ce * w).sum() / w.sum()
    return total


def evaluate_loss(model, tokenizer, texts: list[str], targets, batch_size: int) -> float:
    """The weighted multi-task loss over ``texts``, all rows at once per head."""
    import torch

    logits: dict[str, list] = {h: [] for h in targets}
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            out = model(*padded(tokenizer, texts[start : start + batch_size]))
            for h in logits:
                logits[h].append(out[h])
    joined = {h: torch.cat(v) for h, v in logits.items()}
    return float(batch_loss(joined, targets, np.arange(len(texts))))


def schedule(step: int, total: int, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` share of the steps, then linear decay to 0."""
    ramp = max(1, int(total * warmup))
    if step < ramp:
        return (step + 1) / ramp
    return max(0.0, (total - step) / max(1, total - ramp))


def train(
    model,
    tokenizer,
    texts: list[str],
    targets,
    valid_texts: list[str],
    valid_targets,
    fcfg: FinetuneConfig,
    seed: int,
) -> dict[str, Any]:
    """Fit in place; the model ends in the state with the lowest validation loss."""
    import torch

    heads = [p for n, p in model.named_parameters() if n.startswith("heads.")]
    encoder = [p for n, p in model.named_parameters() if not n.startswith("heads.")]
    optimiser = torch.optim.AdamW(
        [{"params": encoder, "lr": fcfg.lr}, {"params": heads, "lr": fcfg.head_lr}],
        weight_decay=fcfg.weight_decay,
    )
    per_epoch = math.ceil(len(texts) / fcfg.batch_size)
    total = max(1, int(per_epoch * fcfg.epochs))
    sched = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: schedule(s, total, fcfg.warmup))
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(texts)) for _ in range(math.ceil(fcfg.epochs))])
    best = {
        "loss": evaluate_loss(model.eval(), tokenizer, valid_texts, valid_targets, fcfg.batch_size),
        "step": 0,
    }
    state, stale, started, losses, checks = None, 0, time.perf_counter(), [], []
    for step in range(total):
        rows = order[step * fcfg.batch_size : (step + 1) * fcfg.batch_size]
        model.train()
        loss = batch_loss(model(*padded(tokenizer, [texts[i] for i in rows])), targets, rows)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        sched.step()
        losses.append(loss.item())
        over = fcfg.budget_minutes and time.perf_counter() - started > 60 * fcfg.budget_minutes
        if (step + 1) % fcfg.eval_every and step + 1 < total and not over:
            continue
        valid_loss = evaluate_loss(
            model.eval(), tokenizer, valid_texts, valid_targets, fcfg.batch_size
        )
        checks.append(
            {
                "step": step + 1,
                "train_loss": float(np.mean(losses[-fcfg.eval_every :])),
                "valid_loss": valid_loss,
                "seconds": time.perf_counter() - started,
            }
        )
        print(f"finetune step {step + 1}/{total}: {checks[-1]}", flush=True)
        if valid_loss < best["loss"]:
            best, stale = {"loss": valid_loss, "step": step + 1}, 0
            state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if stale >= fcfg.patience or over:
            break
    if state is not None:
        model.load_state_dict(state)
    seconds = time.perf_counter() - started
    return {
        "steps": len(losses),
        "planned_steps": total,
        "seconds": round(seconds, 1),
        "rows_per_second": round(len(losses) * fcfg.batch_size / seconds, 1),
        "best_step": best["step"],
        "best_valid_loss": best["loss"],
        "checks": checks,
        "first_train_loss": losses[0] if losses else None,
    }


def linear_heads(
    model, classes: dict[str, list[str]], names: dict[str, str], scale: float
) -> dict[str, LinearHead]:
    """The torch heads as ``LinearHead`` weights on the unit embedding (scale folded in)."""
    out = {}
    for head, labels in classes.items():
        layer = model.heads[head]
        coef = (scale * layer.weight.detach().numpy()).T.astype(np.float32)
        out[head] = LinearHead(
            names[head], list(labels), coef.copy(), layer.bias.detach().numpy().astype(np.float32)
        )
    return out


def parity(
    model, tokenizer, encoder: OnnxEncoder, heads: dict[str, LinearHead], texts: list[str]
) -> dict[str, dict[str, float]]:
    """Per head, torch against the exported graph: largest probability difference and the
    share of texts with the same top class."""
    import torch

    with torch.no_grad():
        torch_p = {
            h: torch.softmax(v, dim=1).numpy()
            for h, v in model.eval()(*padded(tokenizer, texts)).items()
        }
    emb = encoder.embed(texts)
    out = {}
    for h, head in heads.items():
        onnx_p = head.proba(emb)
        out[h] = {
            "max_abs_diff": float(np.abs(onnx_p - torch_p[h]).max()),
            "top_agreement": float((onnx_p.argmax(1) == torch_p[h].argmax(1)).mean()),
        }
    return out


def export_graph(model, directory: Path, int8: bool) -> EncoderFiles:
    """The fine-tuned encoder as ``directory/encoder.onnx`` (next to its tokenizer), with the
    digests the profile pins."""
    write_graph(last_hidden(model.bert), directory / GRAPH, int8)
    return EncoderFiles(
        *(
            x
            for name in (GRAPH, TOKENIZER)
            for x in (directory / name, hashlib.sha256((directory / name).read_bytes()).hexdigest())
        )
    )


def finetune(
    train_rows: pd.DataFrame,
    valid_rows: pd.DataFrame,
    classes: dict[str, list[str]],
    names: dict[str, str],
    fcfg: FinetuneConfig,
    mcfg: dict,
    max_length: int,
    seed: int,
    output: Path,
) -> Finetuned:
    """Fine-tune on (a stratified sample of) ``train_rows``, stop early on ``valid_rows``,
    export the encoder to ``output`` and return it with its heads."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.manual_seed(seed)
    torch.set_num_threads(fcfg.threads)
    labelled = train_rows[train_rows[list(classes)].notna().any(axis=1)]
    rows = stratified_sample(labelled, fcfg.train_rows, seed)
    valid = stratified_sample(
        valid_rows[valid_rows[list(classes)].notna().any(axis=1)], fcfg.valid_rows, seed
    )
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ic-finetune-") as tmp:
        source = extract_pinned(Path(tmp))
        tokenizer = Tokenizer.from_file(str(source / TOKENIZER))
        tokenizer.enable_truncation(max_length)
        tokenizer.no_padding()
        bert = AutoModel.from_pretrained(str(source))
        for kind in ("fp32", "int8"):
            (output / kind).mkdir(exist_ok=True)
            (output / kind / TOKENIZER).write_bytes((source / TOKENIZER).read_bytes())
    model = multitask_model(bert, {h: len(c) for h, c in classes.items()}, fcfg.scale)
    log = train(
        model,
        tokenizer,
        rows["text"].tolist(),
        head_targets(rows, classes, mcfg),
        valid["text"].tolist(),
        head_targets(valid, classes, mcfg),
        fcfg,
        seed,
    )
    heads = linear_heads(model, classes, names, fcfg.scale)
    sample = valid["text"].tolist()[:200]
    log["parity"], files = {}, {}
    for kind, int8 in (("fp32", False), ("int8", True)):  # both measured, the config's kept
        files[kind] = export_graph(model, output / kind, int8)
        log["parity"][kind] = parity(
            model, tokenizer, OnnxEncoder(files[kind], max_length, 1), heads, sample
        )
    chosen = "int8" if fcfg.int8 else "fp32"
    log["rows"] = {"train": len(rows), "valid": len(valid)}
    log["labelled_rows"] = {h: int(rows[h].notna().sum()) for h in classes}
    return Finetuned(files[chosen], heads, log)
