"""The ported BiLSTM on real labelled data (../shared/data; skipped where it is absent)."""

from __future__ import annotations

import csv
import html

import numpy as np
import pytest

from safety.detectors.text.jigsaw_bilstm import JigsawBiLSTMDetector
from safety.evaluation.metrics import auroc
from tests.conftest import SHARED_DATA


@pytest.mark.shared_data
def test_davidson_toxic_auroc_is_what_the_model_card_reports():
    with (SHARED_DATA / "davidson" / "labeled_data.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = np.random.default_rng(0)
    sample = [rows[i] for i in rng.choice(len(rows), size=4000, replace=False)]
    texts = [html.unescape(r["tweet"]) for r in sample]
    labels = np.array([int(r["class"]) < 2 for r in sample], dtype=int)  # hate or offensive
    detector = JigsawBiLSTMDetector.load()
    toxic = np.concatenate([detector.predict_proba(texts[i : i + 512]).numpy()[:, 0] for i in range(0, len(texts), 512)])
    # Measured on all 24,783 tweets: 0.895. A fixed-seed sample of 4,000 must stay close.
    assert auroc(labels, toxic) >= 0.86
