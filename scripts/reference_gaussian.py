#!/usr/bin/env python3
"""NumPy's numbers for the Gaussian fitted to data/heights.csv, which Tests/ModelsTests compares gentrain with.

mean = np.mean, covariance = np.cov (N - 1), and the mean log-likelihood of the rows under that fit
(np.linalg.slogdet and np.linalg.solve). Writes Tests/ModelsTests/Fixtures/gaussian_heights_numpy.json.

    python3 scripts/reference_gaussian.py
"""
import json
import os

import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
rows = np.loadtxt(os.path.join(root, "data", "heights.csv"), delimiter=",", skiprows=1)
mean = rows.mean(axis=0)
covariance = np.cov(rows.T)
centred = rows - mean
_, log_determinant = np.linalg.slogdet(covariance)
mahalanobis = np.einsum("ij,ij->i", centred, np.linalg.solve(covariance, centred.T).T)
log_likelihood = -0.5 * (rows.shape[1] * np.log(2 * np.pi) + log_determinant + mahalanobis)
result = {
    "numpy": np.__version__,
    "mean": mean.tolist(),
    "covariance": covariance.tolist(),
    "mean_log_likelihood": float(log_likelihood.mean()),
}
with open(os.path.join(root, "Tests", "ModelsTests", "Fixtures", "gaussian_heights_numpy.json"), "w") as file:
    json.dump(result, file, indent=1)
    file.write("\n")
print(json.dumps(result))
