from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone

from safety.calibration import (
    IsotonicCalibrator,
    PlattScaler,
    TemperatureScaler,
    calibrator_from_dict,
    select_calibrator,
)
from safety.evaluation.metrics import expected_calibration_error


def overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits 3x too large for the true probability: a temperature of ~3 fixes them."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(float)
    return 3.0 * true_logit, y


@pytest.mark.parametrize("cls", [TemperatureScaler, PlattScaler, IsotonicCalibrator])
def test_estimator_contract(cls):
    z, y = overconfident()
    estimator = cls()
    assert not [k for k in vars(estimator) if k.endswith("_")], "__init__ must not learn anything"
    assert clone(estimator).get_params() == estimator.get_params()
    assert estimator.fit(z, y) is estimator
    assert [k for k in vars(estimator) if k.endswith("_")]
    p = estimator.predict_proba(z)
    assert p.shape == z.shape and np.all((p >= 0) & (p <= 1))
    with pytest.raises(TypeError):
        cls(0.5)  # keyword-only parameters


@pytest.mark.parametrize("cls", [TemperatureScaler, PlattScaler, IsotonicCalibrator])
def test_calibration_lowers_ece_and_round_trips_through_json(cls):
    z, y = overconfident()
    before = expected_calibration_error(y, 1 / (1 + np.exp(-z)))
    fitted = cls().fit(z[:3000], y[:3000])
    after = expected_calibration_error(y[3000:], fitted.predict_proba(z[3000:]))
    assert after < before / 2
    restored = calibrator_from_dict(json.loads(json.dumps(fitted.to_dict())))
    np.testing.assert_allclose(restored.predict_proba(z), fitted.predict_proba(z))


def test_temperature_recovers_the_scale():
    z, y = overconfident(n=20000)
    assert TemperatureScaler().fit(z, y).temperature_ == pytest.approx(3.0, rel=0.1)


def test_selection_reports_every_method_and_prefers_the_right_shape():
    z, y = overconfident()
    chosen, losses = select_calibrator(z, y)
    assert set(losses) == {"temperature", "platt", "isotonic"}
    assert losses[chosen.to_dict()["method"]] == min(losses.values())
    # A non-sigmoid (step) relation is only captured by isotonic regression.
    rng = np.random.default_rng(1)
    s = rng.uniform(-3, 3, 5000)
    y_step = (rng.random(5000) < np.where(s > 1, 0.9, 0.1)).astype(float)
    chosen, _ = select_calibrator(s, y_step)
    assert chosen.to_dict()["method"] == "isotonic"


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown calibration method"):
        calibrator_from_dict({"method": "magic"})


def test_selection_with_a_single_class_keeps_the_identity():
    chosen, losses = select_calibrator(np.array([0.1, 2.0, -1.0]), np.array([0.0, 0.0, 0.0]))
    assert losses == {} and chosen.to_dict() == {"method": "temperature", "temperature": 1.0}
