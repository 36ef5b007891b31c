"""An independent, step-by-step numpy implementation of the Keras Jigsaw BiLSTM.

It works on the weights in Keras' own layout (kernel ``(in, 4h)``, recurrent kernel ``(h, 4h)``,
bias ``(4h,)``, gate order i, f, c, o; sigmoid recurrent activation, tanh activation) and shares
no code with the torch port, so agreement between the two is evidence that the conversion (gate
order, transposes, direction handling, pooling) is right. Used by the conversion script to check
the converted artifact and by the parity tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_sequence(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Run one Keras LSTM over ``x`` (time, in) and return all hidden states (time, h)."""
    h_dim = recurrent.shape[0]
    h = np.zeros(h_dim, dtype=np.float64)
    c = np.zeros(h_dim, dtype=np.float64)
    out = np.zeros((x.shape[0], h_dim), dtype=np.float64)
    for t in range(x.shape[0]):
        z = x[t] @ kernel + h @ recurrent + bias
        i = _sigmoid(z[:h_dim])
        f = _sigmoid(z[h_dim : 2 * h_dim])
        g = np.tanh(z[2 * h_dim : 3 * h_dim])
        o = _sigmoid(z[3 * h_dim :])
        c = f * c + i * g
        h = o * np.tanh(c)
        out[t] = h
    return out


def forward(token_ids: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
    """Probabilities of the six heads for one pre-padded sequence of token ids.

    ``weights`` keys (Keras layout): ``embedding``, ``fw_kernel``, ``fw_recurrent``, ``fw_bias``,
    ``bw_kernel``, ``bw_recurrent``, ``bw_bias``, ``dense_kernel``, ``dense_bias``,
    ``head_kernel``, ``head_bias``.
    """
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    x = w["embedding"][np.asarray(token_ids)]
    forward_states = lstm_sequence(x, w["fw_kernel"], w["fw_recurrent"], w["fw_bias"])
    backward_states = lstm_sequence(x[::-1], w["bw_kernel"], w["bw_recurrent"], w["bw_bias"])[::-1]
    pooled = np.concatenate([forward_states, backward_states], axis=1).max(axis=0)
    hidden = np.maximum(pooled @ w["dense_kernel"] + w["dense_bias"], 0.0)
    return _sigmoid(hidden @ w["head_kernel"] + w["head_bias"])


def keras_weights_from_torch_state(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Express a torch ``JigsawBiLSTM`` state dict in Keras layout (the inverse of the conversion)."""
    s = {k: np.asarray(v) for k, v in state.items()}
    return {
        "embedding": s["embedding.weight"],
        "fw_kernel": s["lstm.weight_ih_l0"].T,
        "fw_recurrent": s["lstm.weight_hh_l0"].T,
        "fw_bias": s["lstm.bias_ih_l0"] + s["lstm.bias_hh_l0"],
        "bw_kernel": s["lstm.weight_ih_l0_reverse"].T,
        "bw_recurrent": s["lstm.weight_hh_l0_reverse"].T,
        "bw_bias": s["lstm.bias_ih_l0_reverse"] + s["lstm.bias_hh_l0_reverse"],
        "dense_kernel": s["dense.weight"].T,
        "dense_bias": s["dense.bias"],
        "head_kernel": s["head.weight"].T,
        "head_bias": s["head.bias"],
    }
