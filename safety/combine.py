"""The calibrated combiner: channel scores and cross-modal signals -> one probability per category.

A scikit-learn estimator (``__init__`` stores keyword-only parameters, ``fit`` returns ``self``,
learned state ends in ``_``). Each row is a mapping of features named ``<channel>:<name>``::

    {"text:toxicity": 0.91, "text:insult": 0.40, ..., "image:weapons": 0.03,
     "cross_modal:match": 0.85, "cross_modal:mismatch": 0.01, ...}

A channel that did not run (text-only request, image-only request) has no keys. For each
category the combiner fits one sub-model per *pattern* of channels present (text; image;
text + image + cross-modal ...), so an absent channel is handled by the sub-model trained
without it, never by zeros. A sub-model is a logistic regression on the pattern's standardised
features (probabilities enter as log-odds, so a calibrated channel's score is already on the
model's scale) plus interaction terms (each text or image category score times the cross-modal
``match`` and ``mismatch``), whose out-of-fold logits are calibrated by temperature, Platt or
isotonic scaling, chosen by cross-validated log-loss (``safety.calibration.select_calibrator``);
the regularisation strength is chosen from ``Cs`` the same way, on the out-of-fold logits. With
one channel present there is nothing to combine: by default (``single_channel="own"``) that
sub-model only recalibrates the channel's own score for the category, a monotone map that keeps
the channel's ranking (fitting it on every category score of one channel learnt the label habits
of the fitting data and cost 4 points of AUROC on the functional text suite); ``"all"`` uses
every score of the channel.
A pattern seen at prediction time without a sub-model falls back to the largest score the
present channels give for the category (the conservative merge used before the combiner), and
the result says so.

Labels are per category: 1, 0, or -1 for "not labelled" (the row is not used for that category).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from safety.artifacts import load_artifact
from safety.calibration import calibrator_from_dict, select_calibrator
from safety.errors import ModelError
from safety.policy import Evidence
from safety.schema import ChannelResult, ChannelStatus, CombinerExplanation, ModerationResult
from safety.taxonomy import Category, Channel

_CATEGORY_NAMES = frozenset(c.value for c in Category)

CHANNELS = ("text", "image", "cross_modal")
#: Cross-modal signals that interact with the other channels' category scores.
INTERACTING_SIGNALS = ("cross_modal:match", "cross_modal:mismatch")
#: Feature names (after ``<channel>:``) that are probabilities and enter the model as log-odds:
#: every category score, and the cross-modal signals bounded in [0, 1] that behave as probabilities.
PROBABILITY_FEATURES = frozenset({c.value for c in Category} | {"match", "mismatch", "image_unsafe", "text_unsafe",
                                                                 "agreement"})
_LOGIT_EPS = 1e-4


def _value(row: Mapping[str, float], name: str) -> float:
    """The model's input for feature ``name``: the raw value, or its log-odds for a probability."""
    value = float(row[name])
    if name.split(":", 1)[-1] in PROBABILITY_FEATURES:
        p = min(max(value, _LOGIT_EPS), 1.0 - _LOGIT_EPS)
        return float(np.log(p / (1.0 - p)))
    return value


def pattern_of(row: Mapping[str, float]) -> str:
    """The channels present in a feature row, in canonical order, joined by ``+``."""
    present = {key.split(":", 1)[0] for key in row}
    return "+".join(c for c in CHANNELS if c in present) or "none"


def _expand(row: Mapping[str, float], base: Sequence[str]) -> list[float]:
    """The row's values of ``base``, then the interaction terms ``feature_names(base)`` names
    (a score's log-odds times the signal's probability)."""
    values = [_value(row, name) for name in base]
    for signal in INTERACTING_SIGNALS:
        if signal in base:
            values += [_value(row, name) * float(row[signal]) for name in base
                       if not name.startswith("cross_modal:")]
    return values


def feature_names(base: Sequence[str]) -> list[str]:
    names = list(base)
    for signal in INTERACTING_SIGNALS:
        if signal in base:
            names += [f"{name}*{signal}" for name in base if not name.startswith("cross_modal:")]
    return names


class CalibratedCombiner(BaseEstimator):
    def __init__(self, *, Cs: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0), cv: int = 5,  # noqa: N803 - sklearn's name
                 min_rows: int = 20, calibration_methods: tuple[str, ...] = ("temperature", "platt", "isotonic"),
                 single_channel: str = "own", random_state: int = 0) -> None:
        self.Cs = Cs
        self.single_channel = single_channel
        self.cv = cv
        self.min_rows = min_rows
        self.calibration_methods = calibration_methods
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, X: Sequence[Mapping[str, float]], y: Mapping[str, Sequence[int]]) -> "CalibratedCombiner":
        rows = list(X)
        patterns = np.asarray([pattern_of(row) for row in rows])
        self.models_: dict[str, dict[str, dict]] = {}
        self.skipped_: dict[str, dict[str, str]] = {}
        for category, labels in sorted(y.items()):
            labels = np.asarray(labels, dtype=int)
            if len(labels) != len(rows):
                raise ValueError(f"labels of {category!r} have {len(labels)} entries for {len(rows)} rows")
            self.models_[category], self.skipped_[category] = {}, {}
            for pattern in sorted(set(patterns.tolist())):
                mask = (patterns == pattern) & (labels >= 0)
                subset = [rows[i] for i in np.flatnonzero(mask)]
                reason = self._unfit_reason(subset, labels[mask], category)
                if reason:
                    self.skipped_[category][pattern] = reason
                    continue
                self.models_[category][pattern] = self._fit_one(subset, labels[mask], category)
        self._build_calibrators()
        return self

    def _build_calibrators(self) -> None:
        self.calibrators_ = {c: {p: calibrator_from_dict(m["calibrator"]) for p, m in models.items()}
                             for c, models in self.models_.items()}

    def _unfit_reason(self, rows: list[Mapping[str, float]], labels: np.ndarray, category: str) -> str | None:
        if self.single_channel not in ("own", "all"):
            raise ValueError(f"single_channel must be 'own' or 'all', not {self.single_channel!r}")
        if len(rows) < self.min_rows:
            return f"{len(rows)} labelled rows (< min_rows {self.min_rows})"
        if min(int(labels.sum()), int((labels == 0).sum())) < 2:
            return "fewer than 2 rows of a class"
        if not any(name.endswith(f":{category}") for name in rows[0]):
            return f"no channel in this pattern scores {category!r}"
        return None

    def _fit_one(self, rows: list[Mapping[str, float]], labels: np.ndarray, category: str) -> dict:
        base = sorted(set.intersection(*(set(r) for r in rows)))
        if self.single_channel == "own" and "+" not in pattern_of(rows[0]):
            base = [name for name in base if name.endswith(f":{category}")]
        x = np.asarray([_expand(r, base) for r in rows], dtype=np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        z = (x - mean) / scale
        folds = min(self.cv, int(labels.sum()), int((labels == 0).sum()))
        splits = list(StratifiedKFold(n_splits=max(2, folds), shuffle=True,
                                      random_state=self.random_state).split(z, labels))
        # Regularisation by cross-validated log-loss of the out-of-fold logits, then the calibrator
        # by cross-validated log-loss on the chosen C's out-of-fold logits.
        best: tuple[float, float, np.ndarray] | None = None
        for c in self.Cs:
            oof = np.empty(len(labels))
            for train, test in splits:
                model = LogisticRegression(C=c, max_iter=2000).fit(z[train], labels[train])
                oof[test] = model.decision_function(z[test])
            p = np.clip(1.0 / (1.0 + np.exp(-np.clip(oof, -60, 60))), 1e-6, 1 - 1e-6)
            loss = float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))
            if best is None or loss < best[0] - 1e-9:
                best = (loss, c, oof)
        _, chosen_c, oof = best
        calibrator, losses = select_calibrator(oof, labels, methods=self.calibration_methods,
                                               random_state=self.random_state)
        model = LogisticRegression(C=chosen_c, max_iter=2000).fit(z, labels)
        return {"features": base, "names": feature_names(base), "mean": mean.tolist(), "scale": scale.tolist(),
                "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]),
                "C": chosen_c, "calibrator": calibrator.to_dict(), "calibration_cv_log_loss": losses, "n": int(len(labels)),
                "positives": int(labels.sum())}

    # -- prediction ---------------------------------------------------------------------------

    def predict_proba(self, X: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
        """Per category, the calibrated probability of every row (``nan`` where no channel present
        scores the category)."""
        return {category: np.asarray([self.explain(row, category)["probability"] for row in X], dtype=np.float64)
                for category in self.models_}

    def explain(self, row: Mapping[str, float], category: str) -> dict:
        """The probability, the sub-model used, and each channel's contribution to the logit
        (standardised feature times coefficient, interaction terms counted for both channels' half)."""
        model = self.models_[category].get(pattern_of(row))
        if model is None or not set(model["features"]) <= set(row):
            scores = [float(v) for k, v in row.items() if k.endswith(f":{category}")]
            return {"probability": max(scores) if scores else float("nan"), "model": "max-fallback",
                    "contributions": {}}
        z = (np.asarray(_expand(row, model["features"])) - model["mean"]) / np.asarray(model["scale"])
        terms = z * np.asarray(model["coef"])
        logit = float(terms.sum() + model["intercept"])
        contributions: dict[str, float] = {}
        for name, term in zip(model["names"], terms, strict=True):
            channels = {part.split(":", 1)[0] for part in name.split("*")}
            for channel in channels:
                contributions[channel] = contributions.get(channel, 0.0) + float(term) / len(channels)
        probability = float(self.calibrators_[category][pattern_of(row)].predict_proba(np.asarray([logit]))[0])
        return {"probability": probability, "model": pattern_of(row), "logit": logit,
                "intercept": model["intercept"], "contributions": contributions,
                "calibration": model["calibrator"]["method"]}

    # -- persistence --------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"params": self.get_params(), "models": self.models_, "skipped": self.skipped_}

    @classmethod
    def from_dict(cls, state: Mapping) -> "CalibratedCombiner":
        params = dict(state["params"])
        params["calibration_methods"] = tuple(params["calibration_methods"])
        params["Cs"] = tuple(params["Cs"])
        combiner = cls(**params)
        combiner.models_ = {c: dict(m) for c, m in state["models"].items()}
        combiner.skipped_ = {c: dict(m) for c, m in state.get("skipped", {}).items()}
        combiner._build_calibrators()
        return combiner


def load_combiner(name: str = "combiner", *, root: Path | None = None) -> CalibratedCombiner:
    """The combiner artifact ``models/<name>`` (sha256-checked against its manifest)."""
    artifact = load_artifact(name, root=root)
    try:
        return CalibratedCombiner.from_dict(json.loads(artifact.file("combiner.json").read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"combiner artifact {name!r} is not a valid combiner: {exc!r}") from exc


def channel_features(channels: Mapping[Channel, ChannelResult]) -> dict[str, float]:
    """The channels' outputs as one combiner feature row: every score of every channel that ran
    (``<channel>:<name>``); failed and skipped channels contribute nothing, so the row's pattern is
    the channels that actually assessed the input."""
    row: dict[str, float] = {}
    for channel, outcome in channels.items():
        if outcome.status is ChannelStatus.OK:
            row.update({f"{channel.value}:{name}": float(value) for name, value in outcome.scores.items()})
    return row


def features_of(result: ModerationResult) -> dict[str, float]:
    """A result's channel outputs as one combiner feature row (:func:`channel_features`)."""
    return channel_features(result.channels)


def max_merge(channels: Mapping[Channel, ChannelResult]) -> dict[Category, Evidence]:
    """Per category, the highest score among the channels that assessed it, and those channels: the
    conservative rule (no channel can lower another's evidence) for whatever the combiner has no
    model for."""
    merged: dict[Category, Evidence] = {}
    for channel, result in channels.items():
        if result.status is not ChannelStatus.OK:
            continue
        for name, score in result.scores.items():
            if name not in _CATEGORY_NAMES:
                continue  # a signal (e.g. cross-modal similarity), not a category score
            category = Category(name)
            best = merged.get(category, Evidence(0.0, (), "max"))
            merged[category] = Evidence(max(best.probability, score), (*best.sources, channel), "max")
    return merged


def merge(channels: Mapping[Channel, ChannelResult], combiner: CalibratedCombiner | None = None) -> dict[Category, Evidence]:
    """Each category's evidence: the combiner's calibrated probability where it has a sub-model for
    the category and the channels present, else the max merge."""
    merged = max_merge(channels)
    if combiner is None:
        return merged
    row = channel_features(channels)
    for category, evidence in merged.items():
        if category.value not in combiner.models_:
            continue
        explained = combiner.explain(row, category.value)
        if explained["model"] == "max-fallback":
            continue
        contributions = {Channel(c): round(v, 6) for c, v in explained["contributions"].items()}
        merged[category] = Evidence(
            probability=explained["probability"],
            sources=tuple(c for c in Channel if c in contributions),
            method="combiner",
            combiner=CombinerExplanation(model=explained["model"], calibration=explained["calibration"],
                                         logit=round(explained["logit"], 6), intercept=round(explained["intercept"], 6),
                                         contributions=contributions),
        )
    return merged
