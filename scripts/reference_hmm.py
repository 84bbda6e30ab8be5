#!/usr/bin/env python3
"""hmmlearn's numbers for small hidden Markov models, which Tests/ModelsTests compares gentrain's `hmm` with.

Three cases: GaussianHMM with diagonal and with full covariances, and CategoricalHMM. Each draws its sequences from
a known HMM (numpy seed fixed; Gaussian values rounded to float32, which is what gentrain's sequence files hold),
sets the initial parameters by hand (init_params=""), and runs Baum-Welch one iteration at a time (fit with
n_iter=1, so every iteration's log-likelihood is recorded). It writes the data, the initial parameters, the
log-likelihood of each iteration (under the parameters before that iteration's M-step, hmmlearn's monitor), the
parameters after the last iteration, and the iteration at which fit() with the default tol 1e-2 stops.
Writes Tests/ModelsTests/Fixtures/hmm_hmmlearn.json (needs numpy, scikit-learn and hmmlearn: the reference venv).

    ~/.cache/gentrain-reference-venv/bin/python scripts/reference_hmm.py
"""
import json
import os

import hmmlearn
import numpy as np
from hmmlearn import hmm

ITERATIONS = 8
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sequences_from(model, count, length, seed):
    random = np.random.RandomState(seed)
    return np.stack([model.sample(length, random_state=random)[0] for _ in range(count)])


def run(make, data, initial):
    """Per-iteration log-likelihoods and final parameters from `initial`, plus the iteration fit() converges at."""
    flat = data.reshape(-1, data.shape[2])
    lengths = [data.shape[1]] * data.shape[0]

    def fresh(n_iter, tol):
        model = make(n_iter, tol)
        for name, value in initial.items():
            setattr(model, name + "_", np.array(value))
        return model

    model = fresh(1, 1e-2)
    log_likelihoods = []
    for _ in range(ITERATIONS):
        model.fit(flat, lengths)
        log_likelihoods.append(float(model.monitor_.history[-1]))
    final = {name: np.asarray(getattr(model, "_covars_" if name == "covars" else name + "_")).tolist() for name in initial}
    converging = fresh(100, 1e-2)
    converging.fit(flat, lengths)
    return {
        "data": data.tolist(), "initial": initial, "log_likelihoods": log_likelihoods, "final": final,
        "converged_after": converging.monitor_.iter, "converged_log_likelihood": float(converging.monitor_.history[-1]),
    }


def gaussian_case(covariance_type):
    truth = hmm.GaussianHMM(n_components=3, covariance_type=covariance_type)
    truth.startprob_ = np.array([0.6, 0.3, 0.1])
    truth.transmat_ = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    truth.means_ = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 3.0]])
    if covariance_type == "diag":
        truth.covars_ = np.array([[0.5, 0.3], [0.4, 0.6], [0.3, 0.2]])
    else:
        truth.covars_ = np.array([[[0.5, 0.1], [0.1, 0.3]], [[0.4, -0.2], [-0.2, 0.6]], [[0.3, 0.05], [0.05, 0.2]]])
    data = sequences_from(truth, count=7, length=6, seed=11).astype(np.float32).astype(np.float64)
    initial = {
        "startprob": [0.4, 0.35, 0.25],
        "transmat": [[0.5, 0.3, 0.2], [0.25, 0.5, 0.25], [0.3, 0.3, 0.4]],
        "means": [[0.5, 0.2], [1.5, 1.5], [-0.5, 2.0]],
        "covars": [[1.0, 1.0], [1.0, 0.8], [0.7, 1.0]] if covariance_type == "diag"
        else [[[1.0, 0.2], [0.2, 1.0]], [[1.0, 0.0], [0.0, 0.8]], [[0.7, -0.1], [-0.1, 1.0]]],
    }
    return run(lambda n_iter, tol: hmm.GaussianHMM(n_components=3, covariance_type=covariance_type, n_iter=n_iter, tol=tol,
                                                    init_params="", implementation="log"), data, initial)


def categorical_case():
    truth = hmm.CategoricalHMM(n_components=2, n_features=4)
    truth.startprob_ = np.array([0.7, 0.3])
    truth.transmat_ = np.array([[0.8, 0.2], [0.3, 0.7]])
    truth.emissionprob_ = np.array([[0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.4, 0.4]])
    data = sequences_from(truth, count=8, length=7, seed=5).astype(np.int64)
    initial = {
        "startprob": [0.5, 0.5],
        "transmat": [[0.6, 0.4], [0.4, 0.6]],
        "emissionprob": [[0.3, 0.3, 0.2, 0.2], [0.2, 0.2, 0.3, 0.3]],
    }
    return run(lambda n_iter, tol: hmm.CategoricalHMM(n_components=2, n_features=4, n_iter=n_iter, tol=tol, init_params=""),
               data, initial)


result = {
    "hmmlearn": hmmlearn.__version__, "numpy": np.__version__, "iterations": ITERATIONS,
    "gaussian_diag": gaussian_case("diag"), "gaussian_full": gaussian_case("full"), "categorical": categorical_case(),
}
with open(os.path.join(root, "Tests", "ModelsTests", "Fixtures", "hmm_hmmlearn.json"), "w") as file:
    json.dump(result, file, indent=1)
    file.write("\n")
for case in ("gaussian_diag", "gaussian_full", "categorical"):
    print(case, result[case]["log_likelihoods"], "converged after", result[case]["converged_after"])
