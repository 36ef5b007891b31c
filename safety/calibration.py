"""Probability calibration of detector scores, written as scikit-learn estimators.

Each calibrator maps a raw score (a logit) to a probability. ``__init__`` only stores keyword-only
parameters, ``fit`` returns ``self``, learned state ends in ``_`` (the ``sklearn.calibration``
way). ``to_dict`` / ``calibrator_from_dict`` serialise the learned state as plain JSON, so shipped
artifacts never need pickle.

* :class:`TemperatureScaler` - ``sigmoid(z / T)``: one parameter, keeps the ranking and the 0.5 point.
* :class:`PlattScaler` - ``sigmoid(a * z + b)``: logistic regression on the score.
* :class:`IsotonicCalibrator` - a monotone step function (clipped at both ends), most flexible.

:func:`select_calibrator` picks one by cross-validated log-loss on validation data.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

_EPS = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(np.average(losses, weights=w))


class TemperatureScaler(BaseEstimator):
    def __init__(self, *, bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        self.bounds = bounds

    def fit(self, scores, y, sample_weight=None) -> "TemperatureScaler":
        z, y = np.asarray(scores, float), np.asarray(y, float)
        result = minimize_scalar(lambda t: _log_loss(y, _sigmoid(z / t), sample_weight), bounds=self.bounds,
                                 method="bounded")
        self.temperature_ = float(result.x)
        return self

    def predict_proba(self, scores) -> np.ndarray:
        return _sigmoid(np.asarray(scores, float) / self.temperature_)

    def to_dict(self) -> dict:
        return {"method": "temperature", "temperature": self.temperature_}


class PlattScaler(BaseEstimator):
    def __init__(self, *, C: float = 1e4) -> None:  # noqa: N803 - sklearn's name
        self.C = C

    def fit(self, scores, y, sample_weight=None) -> "PlattScaler":
        z = np.asarray(scores, float).reshape(-1, 1)
        model = LogisticRegression(C=self.C).fit(z, np.asarray(y) > 0.5, sample_weight=sample_weight)
        self.coef_, self.intercept_ = float(model.coef_[0, 0]), float(model.intercept_[0])
        return self

    def predict_proba(self, scores) -> np.ndarray:
        return _sigmoid(self.coef_ * np.asarray(scores, float) + self.intercept_)

    def to_dict(self) -> dict:
        return {"method": "platt", "coef": self.coef_, "intercept": self.intercept_}


class IsotonicCalibrator(BaseEstimator):
    def __init__(self, *, y_min: float = 0.001, y_max: float = 0.999) -> None:
        self.y_min = y_min
        self.y_max = y_max

    def fit(self, scores, y, sample_weight=None) -> "IsotonicCalibrator":
        iso = IsotonicRegression(y_min=self.y_min, y_max=self.y_max, out_of_bounds="clip")
        iso.fit(np.asarray(scores, float), np.asarray(y, float), sample_weight=sample_weight)
        self.x_thresholds_ = iso.X_thresholds_.astype(float)
        self.y_thresholds_ = iso.y_thresholds_.astype(float)
        return self

    def predict_proba(self, scores) -> np.ndarray:
        return np.interp(np.asarray(scores, float), self.x_thresholds_, self.y_thresholds_)

    def to_dict(self) -> dict:
        return {"method": "isotonic", "x": self.x_thresholds_.tolist(), "y": self.y_thresholds_.tolist()}


CALIBRATORS = {"temperature": TemperatureScaler, "platt": PlattScaler, "isotonic": IsotonicCalibrator}


def calibrator_from_dict(state: dict) -> TemperatureScaler | PlattScaler | IsotonicCalibrator:
    method = state["method"]
    if method == "temperature":
        calibrator = TemperatureScaler()
        calibrator.temperature_ = float(state["temperature"])
    elif method == "platt":
        calibrator = PlattScaler()
        calibrator.coef_, calibrator.intercept_ = float(state["coef"]), float(state["intercept"])
    elif method == "isotonic":
        calibrator = IsotonicCalibrator()
        calibrator.x_thresholds_ = np.asarray(state["x"], float)
        calibrator.y_thresholds_ = np.asarray(state["y"], float)
    else:
        raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(CALIBRATORS)}")
    return calibrator


def select_calibrator(scores, y, *, sample_weight=None, methods=tuple(CALIBRATORS), n_splits: int = 5,
                      random_state: int = 0) -> tuple[BaseEstimator, dict[str, float]]:
    """Fit each method in ``n_splits``-fold CV, keep the lowest mean held-out log-loss, refit on all.

    Returns the fitted calibrator and the CV log-loss of every method (for the model card). With
    fewer than two examples of a class there is nothing to fit: the identity (temperature 1) is
    returned with no losses.
    """
    z, y = np.asarray(scores, float), np.asarray(y, float)
    w = None if sample_weight is None else np.asarray(sample_weight, float)
    hard = (y > 0.5).astype(int)
    smallest_class = int(np.bincount(hard, minlength=2).min())
    if smallest_class < 2:  # nothing to calibrate against: keep the sigmoid of the score
        identity = TemperatureScaler()
        identity.temperature_ = 1.0
        return identity, {}
    folds = StratifiedKFold(n_splits=min(n_splits, smallest_class), shuffle=True, random_state=random_state)
    losses: dict[str, float] = {}
    for name in methods:
        fold_losses = []
        for train, test in folds.split(z, hard):
            model = CALIBRATORS[name]().fit(z[train], y[train], None if w is None else w[train])
            fold_losses.append(_log_loss(y[test], model.predict_proba(z[test]), None if w is None else w[test]))
        losses[name] = float(np.mean(fold_losses))
    best = min(losses, key=losses.get)
    return CALIBRATORS[best]().fit(z, y, w), losses
