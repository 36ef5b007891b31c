"""The Jigsaw toxic-comment BiLSTM (from ``toxic-comment-classifier==0.3.0``, MIT) in torch.

Architecture, as trained in Keras: Embedding(20000, 50) -> Bidirectional(LSTM(50),
return_sequences) -> global max pool over time -> Dense(50, relu) -> Dense(6, sigmoid), on
pre-padded sequences of 100 tokens (the padding index 0 is embedded and read by the LSTM, which is
why very short texts score like "mostly padding"). The weights are converted from the package's
Keras file by ``python -m safety.training.convert_jigsaw_bilstm`` into ``models/jigsaw_bilstm``.

Each of the six sigmoid heads is its own category (``label_map`` in the artifact's config): the
package's own ``predict()`` averages them, which almost never fires because only ``toxic`` is
high on most toxic inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import torch
from safetensors.torch import load_file
from torch import nn

from safety.artifacts import Artifact, load_artifact
from safety.detectors.protocol import Detection, DetectorInfo, DetectorKind, map_labels
from safety.detectors.text.keras_tokenizer import KerasTokenizer, windows
from safety.errors import ArtifactIntegrityError
from safety.taxonomy import Category

ARTIFACT = "jigsaw_bilstm"


class JigsawBiLSTM(nn.Module):
    def __init__(self, *, vocab_size: int, embedding_dim: int, hidden: int, dense: int, n_labels: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(2 * hidden, dense)
        self.head = nn.Linear(dense, n_labels)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """``token_ids``: (batch, maxlen) int64 -> (batch, n_labels) probabilities."""
        states, _ = self.lstm(self.embedding(token_ids))
        pooled = states.max(dim=1).values
        return torch.sigmoid(self.head(torch.relu(self.dense(pooled))))


class JigsawBiLSTMDetector:
    """Text detector over the converted BiLSTM; batches are padded to ``maxlen`` tokens."""

    def __init__(self, *, model: JigsawBiLSTM, tokenizer: KerasTokenizer, labels: Sequence[str],
                 maxlen: int, window_stride: int, info: DetectorInfo) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.labels = tuple(labels)
        self.maxlen = maxlen
        self.window_stride = window_stride
        self.info = info

    @classmethod
    def load(cls, artifact: Artifact | None = None) -> "JigsawBiLSTMDetector":
        artifact = artifact or load_artifact(ARTIFACT)
        config = json.loads(artifact.file("config.json").read_text(encoding="utf-8"))
        try:
            label_map = {label: Category(cat) for label, cat in config["label_map"].items()}
            model = JigsawBiLSTM(
                vocab_size=config["vocab_size"], embedding_dim=config["embedding_dim"],
                hidden=config["hidden"], dense=config["dense"], n_labels=len(config["labels"]),
            )
            model.load_state_dict(load_file(artifact.file("model.safetensors")))
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ArtifactIntegrityError(f"artifact {artifact.name!r} does not describe a valid BiLSTM: {exc}") from exc
        tok = config["tokenizer"]
        tokenizer = KerasTokenizer.from_vocab_file(artifact.file("vocab.txt"), filters=tok["filters"], lower=tok["lower"])
        info = DetectorInfo(id=config["id"], version=artifact.version, kind=DetectorKind.TEXT,
                            sha256=artifact.sha256, label_map=label_map)
        return cls(model=model, tokenizer=tokenizer, labels=config["labels"], maxlen=config["maxlen"],
                   window_stride=config["window_stride"], info=info)

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), n_labels) head probabilities; long texts take the max over windows."""
        owners: list[int] = []
        rows: list[list[int]] = []
        for i, ids in enumerate(self.tokenizer.encode_batch(texts)):
            for window in windows(ids, self.maxlen, self.window_stride):
                owners.append(i)
                rows.append(window)
        if not rows:
            return torch.empty(0, len(self.labels))
        with torch.inference_mode():
            probs = self.model(torch.tensor(rows, dtype=torch.long))
        out = torch.zeros(len(texts), len(self.labels))
        index = torch.tensor(owners).unsqueeze(1).expand_as(probs)
        return out.scatter_reduce(0, index, probs, reduce="amax", include_self=False)

    def predict_batch(self, texts: Sequence[str]) -> list[Detection]:
        detections = []
        for row in self.predict_proba(texts).tolist():
            raw = dict(zip(self.labels, row, strict=True))
            detections.append(Detection(scores=map_labels(raw, self.info.label_map), raw_scores=raw))
        return detections
