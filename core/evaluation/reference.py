"""Published reference values, quoted as published (not our results).

SEED000_TABLE1: seed 000 (../shared/seeds/000_a441d5d5b502ff7e.txt), section 4, Table 1 —
mean ± std over their runs. Units as printed there: accuracies are fractions; reconstruction error
is BCE of a test image (which we read as summed over the 784 pixels, in nats per image: see
core/evaluation.py); FID and Inception Score are unitless.
"""

from __future__ import annotations

_COLUMNS = ("generated_accuracy", "fid", "inception_score", "classification_accuracy", "reconstruction_bce")
_ROWS = {
    ("cae", 8): ((0.90, 0.06), (424.12, 3.19), (2.25, 0.14), (0.96, 0.0009), (83.40, 0.85)),
    ("cvae", 8): ((0.84, 0.02), (419.51, 3.83), (2.15, 0.14), (0.94, 0.0013), (92.99, 1.17)),
    ("cae", 16): ((0.90, 0.09), (426.09, 3.56), (2.17, 0.11), (0.98, 0.0009), (68.00, 0.75)),
    ("cvae", 16): ((0.82, 0.03), (417.84, 6.23), (2.16, 0.17), (0.94, 0.0028), (89.52, 1.63)),
    ("cae", 32): ((0.94, 0.05), (427.64, 2.71), (2.15, 0.13), (0.98, 0.0006), (62.30, 1.20)),
    ("cvae", 32): ((0.84, 0.02), (417.79, 1.57), (2.13, 0.13), (0.94, 0.0027), (88.26, 0.38)),
    ("cae", 64): ((0.88, 0.10), (425.50, 2.02), (2.21, 0.08), (0.98, 0.0011), (61.06, 1.64)),
    ("cvae", 64): ((0.84, 0.02), (414.87, 2.56), (2.24, 0.10), (0.94, 0.0022), (89.13, 0.83)),
}
#: {(model name, latent size): {metric: (mean, std)}}
SEED000_TABLE1: dict[tuple[str, int], dict[str, tuple[float, float]]] = {
    key: dict(zip(_COLUMNS, values)) for key, values in _ROWS.items()
}
