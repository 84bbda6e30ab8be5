#!/usr/bin/env python3
"""Reference numbers of scikit-learn's BernoulliRBM for the RBM's tests (Tests/ModelsTests/RBMTests.swift).

A small RBM (12 visible, 5 hidden, 4 persistent chains) with parameters, data, chain states and uniforms that are
exact in Float32, so gentrain starts from the same numbers:
- free energies (`_free_energy`) and mean hiddens (`transform`) of 6 binary rows;
- pseudo-likelihoods (`score_samples`) with the flipped units recorded (scikit-learn draws them from its
  random_state, which is a seed here, so the script repeats the draw);
- one `_fit` step (persistent CD-1) on 4 rows, with the two uniform draws it makes injected and recorded.

Run with the reference venv: ~/.cache/gentrain-reference-venv/bin/python scripts/reference_rbm.py
Writes Tests/ModelsTests/Fixtures/rbm_sklearn.json.
"""

import json
import os

import numpy as np
import sklearn
from sklearn.neural_network import BernoulliRBM

VISIBLE, HIDDEN, CHAINS, ROWS, SEED = 12, 5, 4, 6, 7


def float32_exact(values):
    return np.asarray(values, dtype=np.float32).astype(np.float64)


class InjectedUniforms:
    """Stands in for the RandomState `_fit` draws from: hands out the given uniform arrays in order."""

    def __init__(self, arrays):
        self.arrays = list(arrays)

    def uniform(self, size):
        array = self.arrays.pop(0)
        assert array.shape == tuple(size), (array.shape, size)
        return array.copy()


def main():
    rng = np.random.RandomState(SEED)
    rbm = BernoulliRBM(n_components=HIDDEN, learning_rate=0.1, batch_size=CHAINS, random_state=SEED)
    rbm.components_ = float32_exact(rng.normal(0, 1.0, (HIDDEN, VISIBLE)))
    rbm.intercept_hidden_ = float32_exact(rng.normal(0, 0.5, HIDDEN))
    rbm.intercept_visible_ = float32_exact(rng.normal(0, 0.5, VISIBLE))
    rbm.h_samples_ = (rng.uniform(size=(CHAINS, HIDDEN)) < 0.5).astype(np.float64)
    rbm.n_features_in_ = VISIBLE
    rbm._n_features_out = HIDDEN
    data = (rng.uniform(size=(ROWS, VISIBLE)) < 0.5).astype(np.float64)

    free_energy = rbm._free_energy(data)
    transform = rbm.transform(data)
    flips = np.random.RandomState(SEED).randint(0, VISIBLE, ROWS)  # score_samples' draw with random_state=SEED
    pseudo_likelihood = rbm.score_samples(data)

    # One step: its uniforms are Float32 values far (> 1e-3) from the probabilities they are compared with, so the
    # draws cannot differ between Float64 and Float32 arithmetic.
    before = {"components": rbm.components_.copy(), "intercept_hidden": rbm.intercept_hidden_.copy(),
              "intercept_visible": rbm.intercept_visible_.copy(), "h_samples": rbm.h_samples_.copy()}
    batch = data[:CHAINS]
    visible_probabilities = 1 / (1 + np.exp(-(rbm.h_samples_ @ rbm.components_ + rbm.intercept_visible_)))
    visible_uniforms = float32_exact(rng.uniform(size=(CHAINS, VISIBLE)))
    assert np.abs(visible_uniforms - visible_probabilities).min() > 1e-3
    v_model = (visible_uniforms < visible_probabilities).astype(np.float64)
    hidden_probabilities = rbm.transform(v_model)
    hidden_uniforms = float32_exact(rng.uniform(size=(CHAINS, HIDDEN)))
    assert np.abs(hidden_uniforms - hidden_probabilities).min() > 1e-3
    rbm._fit(batch, InjectedUniforms([visible_uniforms, hidden_uniforms]))

    fixture = {
        "source": f"scikit-learn {sklearn.__version__} BernoulliRBM (scripts/reference_rbm.py)",
        "visible": VISIBLE, "hidden": HIDDEN, "chains": CHAINS, "learning_rate": 0.1,
        "components": before["components"].tolist(), "intercept_hidden": before["intercept_hidden"].tolist(),
        "intercept_visible": before["intercept_visible"].tolist(), "h_samples": before["h_samples"].tolist(),
        "data": data.tolist(),
        "free_energy": free_energy.tolist(), "transform": transform.tolist(),
        "flips": flips.tolist(), "pseudo_likelihood": pseudo_likelihood.tolist(),
        "fit": {"visible_uniforms": visible_uniforms.tolist(), "hidden_uniforms": hidden_uniforms.tolist(),
                "v_model": v_model.tolist(),
                "components": rbm.components_.tolist(), "intercept_hidden": rbm.intercept_hidden_.tolist(),
                "intercept_visible": rbm.intercept_visible_.tolist(), "h_samples": rbm.h_samples_.tolist()},
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ModelsTests", "Fixtures", "rbm_sklearn.json")
    with open(path, "w") as file:
        json.dump(fixture, file)
        file.write("\n")
    print(f"wrote {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
