#!/usr/bin/env python3
"""scikit-learn's GaussianMixture numbers that Tests/ModelsTests/GaussianMixtureTests compares gentrain's mixture with.

A small data set (three overlapping blobs, 240 rows of 4 values, rounded to float32 so that gentrain reads the very
same numbers) is fitted from given initial weights, means and precisions (weights_init, means_init, precisions_init)
for each covariance type, with a tolerance small enough for a dozen or more iterations; and once with max_iter 3, so
that the fit stops unconverged. For each: the lower bound of every iteration (lower_bounds_), n_iter_, converged_,
the fitted weights_, means_, covariances_, precisions_cholesky_, and score, bic and aic on the data.

    ~/.cache/gentrain-reference-venv/bin/python scripts/reference_gmm.py
(the venv: python3 -m venv ~/.cache/gentrain-reference-venv && ~/.cache/gentrain-reference-venv/bin/pip install scikit-learn)
"""
import json
import os

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rng = np.random.RandomState(7)
centres = np.array([[0.0, 0.0, 1.0, 2.0], [1.5, 1.0, 0.0, 2.5], [0.5, 2.0, 1.5, 0.0]])
scales = np.array([[1.0, 0.6, 0.9, 0.7], [0.8, 1.1, 0.5, 0.9], [0.7, 0.9, 1.2, 0.6]])
rows = np.concatenate([centres[j] + scales[j] * rng.randn(80, 4) for j in range(3)])
rows[:, 3] += 0.4 * rows[:, 0]  # correlated columns, for the full and tied covariances
rows = rows[rng.permutation(len(rows))].astype(np.float32).astype(np.float64)
k, d = 3, rows.shape[1]

initial_weights = np.array([0.3, 0.3, 0.4])
initial_means = rows[[0, 1, 2]] + 0.1


def initial_precisions(covariance_type):
    full = np.stack([np.eye(d) * (1.0 + 0.25 * j) + 0.1 * np.ones((d, d)) for j in range(k)])
    if covariance_type == "full":
        return full
    if covariance_type == "tied":
        return full[0]
    if covariance_type == "diag":
        return np.stack([np.diag(full[j]) for j in range(k)])
    return np.array([1.0, 1.25, 1.5])


cases = []
for covariance_type, tol, max_iter in [("full", 1e-5, 100), ("diag", 1e-5, 100), ("spherical", 1e-5, 100), ("tied", 1e-5, 100),
                                       ("full", 1e-5, 3)]:
    precisions = initial_precisions(covariance_type)
    mixture = GaussianMixture(n_components=k, covariance_type=covariance_type, tol=tol, reg_covar=1e-6, max_iter=max_iter,
                              weights_init=initial_weights, means_init=initial_means, precisions_init=precisions)
    mixture.fit(rows)
    cases.append({
        "covariance_type": covariance_type, "tol": tol, "max_iter": max_iter,
        "precisions_init": precisions.tolist(),
        "lower_bounds": [float(value) for value in mixture.lower_bounds_],
        "n_iter": int(mixture.n_iter_), "converged": bool(mixture.converged_),
        "weights": mixture.weights_.tolist(), "means": mixture.means_.tolist(),
        "covariances": mixture.covariances_.tolist(), "precisions_cholesky": mixture.precisions_cholesky_.tolist(),
        "score": float(mixture.score(rows)), "bic": float(mixture.bic(rows)), "aic": float(mixture.aic(rows)),
    })

result = {"scikit_learn": sklearn.__version__, "numpy": np.__version__, "components": k, "reg_covar": 1e-6,
          "rows": rows.tolist(), "weights_init": initial_weights.tolist(), "means_init": initial_means.tolist(), "cases": cases}
with open(os.path.join(root, "Tests", "ModelsTests", "Fixtures", "gmm_sklearn.json"), "w") as file:
    json.dump(result, file)
    file.write("\n")
for case in cases:
    print(case["covariance_type"], case["max_iter"], "n_iter", case["n_iter"], "converged", case["converged"], "lower bound", case["lower_bounds"][-1])
