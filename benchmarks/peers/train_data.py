#!/usr/bin/env python3
"""Writes the data sets of train_comparisons.sh as h5py tables that shardflow reads with
`{format: hdf5, path: FILE, table: /}`: one 1-D dataset per column at the file's root, features
f0..f{d-1} (float64), one label column per task the set has, and `id` (int64, the row number: the
split is `id % 5 == 0` -> test, the rest -> train, in every tool). The label columns:
`label` (int64 0/1: binary), `target` (float64: regression), `class` (int64 0..K-1: multiclass).

    train_data.py synthetic OUT.h5 --rows N [--features 64] [--classes 5] [--seed 7]
    train_data.py breast_cancer|diabetes|wine|digits OUT.h5

synthetic: dense float64 features from a fixed seed, correlated (a random mixing of standard
normals) and of very different means and scales (so standardization matters), with three labels
from the same standardized latent features z: `label`, 0/1 drawn from a logistic model with known
random weights (margin standard deviation about 3, so the classes overlap and the optimum is
neither trivial nor separable); `target`, a linear function of z (signal standard deviation 3)
plus an intercept of 10 and N(0, 1) noise (R^2 about 0.9); `class`, one of K classes drawn from a
multinomial logistic model with known random weights (margin standard deviation about 2 per
class). The features and `label` are those of the binary-only files this script wrote before
(the same random streams); `target` and `class` come from streams of their own.
breast_cancer, diabetes, wine, digits: scikit-learn's bundled data sets (no download):
breast_cancer 569 x 30, `label` (1 = benign); diabetes 442 x 10 (the raw, unscaled features),
`target` (disease progression after one year); wine 178 x 13, `class` (3 cultivars); digits
1797 x 64 (8x8 pixel intensities 0..16), `class` (the digit).

Each file is written under a temporary name and renamed into place, so a file under its final name
is whole; OUT.json beside it describes it (rows, features, split, its label column per task in
`labels`, how it was made).
Needs numpy and h5py (Debian: python3-numpy python3-h5py), the bundled sets also scikit-learn
(python3-sklearn).
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np

CHUNK = 1 << 18  # rows generated and written at a time (fixed: the data depends on (seed, rows) only)
TEST_MODULUS = 5  # id % 5 == 0 -> test (20%), the rest -> train
# The label column of each task; a file holds those of the tasks it has.
LABEL_COLUMNS = {"binary": "label", "regression": "target", "multiclass": "class"}
LABEL_TYPES = {"binary": "i8", "regression": "f8", "multiclass": "i8"}
DATASETS = ["synthetic", "breast_cancer", "diabetes", "wine", "digits"]


def write_table(path, n, features, tasks, column_chunks, description):
    """column_chunks yields (begin, X block rows x d float64, {task: label block}) in row order."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            cols = [f.create_dataset(name, shape=(n,), dtype="f8") for name in features]
            labels = {t: f.create_dataset(LABEL_COLUMNS[t], shape=(n,), dtype=LABEL_TYPES[t]) for t in tasks}
            for begin, x, ys in column_chunks:
                end = begin + len(x)
                for j, dataset in enumerate(cols):
                    dataset[begin:end] = np.ascontiguousarray(x[:, j])
                for t, dataset in labels.items():
                    dataset[begin:end] = ys[t]
            f.create_dataset("id", data=np.arange(n, dtype=np.int64))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    meta = {"path": os.path.abspath(path), "rows": n, "features": features,
            "labels": {t: LABEL_COLUMNS[t] for t in tasks}, "id": "id",
            "test": f"id % {TEST_MODULUS} == 0", "test_modulus": TEST_MODULUS,
            "train_rows": n - len(range(0, n, TEST_MODULUS)), "test_rows": len(range(0, n, TEST_MODULUS))}
    if "binary" in tasks:
        meta["label"] = LABEL_COLUMNS["binary"]  # the field of the binary-only files' descriptions
    meta.update(description)
    with open(path + ".json.tmp", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(path + ".json.tmp", path + ".json")
    return meta


def synthetic(path, n, d, classes, seed):
    # Separate streams for the model, the features and each label, and a fixed chunk size: the
    # same (seed, rows) give the same bytes however the file is written. Streams 0-2 are those of
    # the binary-only files written before (their features and `label` are unchanged).
    model_rng = np.random.default_rng([seed, 0])
    mixing = np.eye(d) + model_rng.normal(0.0, 1.0 / np.sqrt(d), (d, d))  # correlations up to ~0.5
    means = model_rng.uniform(-50.0, 50.0, d)
    scales = 10.0 ** model_rng.uniform(-2.0, 3.0, d)  # 0.01 .. 1000
    true_w = model_rng.normal(0.0, 1.0, d)
    true_w[model_rng.random(d) < 0.25] = 0.0  # some features carry no signal
    z_std = np.sqrt(np.einsum("ij,ij->j", mixing, mixing))  # std of each mixed latent feature
    corr = (mixing.T @ mixing) / np.outer(z_std, z_std)  # the latent features' correlation matrix
    true_w *= 3.0 / np.sqrt(true_w @ corr @ true_w)
    true_b = 0.5
    x_rng, y_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    # regression: target = z . w_r + 10 + N(0, 1), signal std 3
    reg_model_rng, reg_rng = np.random.default_rng([seed, 3]), np.random.default_rng([seed, 4])
    reg_w = reg_model_rng.normal(0.0, 1.0, d)
    reg_w[reg_model_rng.random(d) < 0.25] = 0.0
    reg_w *= 3.0 / np.sqrt(reg_w @ corr @ reg_w)
    reg_b, reg_noise = 10.0, 1.0
    # multiclass: class ~ softmax(z W + b), each class's margin std 2
    mc_model_rng, mc_rng = np.random.default_rng([seed, 5]), np.random.default_rng([seed, 6])
    mc_w = mc_model_rng.normal(0.0, 1.0, (d, classes))
    mc_w *= 2.0 / np.sqrt(np.einsum("jc,jk,kc->c", mc_w, corr, mc_w))
    mc_b = mc_model_rng.normal(0.0, 0.5, classes)

    def chunks():
        for begin in range(0, n, CHUNK):
            m = min(CHUNK, n - begin)
            z = x_rng.standard_normal((m, d)) @ mixing / z_std  # unit variance, correlated
            margin = z @ true_w + true_b
            label = (y_rng.random(m) < 1.0 / (1.0 + np.exp(-margin))).astype(np.int64)
            target = z @ reg_w + reg_b + reg_noise * reg_rng.standard_normal(m)
            logits = z @ mc_w + mc_b
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            cls = np.minimum((mc_rng.random((m, 1)) > cdf).sum(axis=1), classes - 1).astype(np.int64)
            yield begin, z * scales + means, {"binary": label, "regression": target, "multiclass": cls}

    features = [f"f{j}" for j in range(d)]
    return write_table(path, n, features, ["binary", "regression", "multiclass"], chunks(), {
        "dataset": "synthetic", "seed": seed, "classes": classes,
        "made_by": "benchmarks/peers/train_data.py synthetic: x = (z = N(0,I) @ M / std) * scale + mean; "
                   "label ~ Bernoulli(sigmoid(z . w + b)), margin std 3; target = z . w_r + 10 + N(0, 1), "
                   "signal std 3; class ~ Categorical(softmax(z W + b)), margin std 2 per class",
        "true_intercept": true_b, "true_weights_standardized": true_w.tolist(),
        "regression_intercept": reg_b, "regression_noise_std": reg_noise,
        "regression_weights_standardized": reg_w.tolist()})


def bundled(path, name):
    from sklearn import datasets
    if name == "breast_cancer":
        data, task, note = datasets.load_breast_cancer(), "binary", {"label_1_means": "benign"}
    elif name == "diabetes":
        data, task, note = datasets.load_diabetes(scaled=False), "regression", {
            "target_means": "a quantitative measure of disease progression one year after baseline"}
    elif name == "wine":
        data, task, note = datasets.load_wine(), "multiclass", {"class_means": "cultivar 0, 1, 2"}
    else:
        data, task, note = datasets.load_digits(), "multiclass", {"class_means": "the digit 0..9"}
    x = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.float64 if task == "regression" else np.int64)
    features = [f"f{j}" for j in range(x.shape[1])]
    description = {"dataset": name, "made_by": f"sklearn.datasets.load_{name}()"
                   + (" (scaled=False)" if name == "diabetes" else ""),
                   "feature_names": [str(s) for s in data.feature_names]}
    if task == "multiclass":
        description["classes"] = int(len(np.unique(y)))
    description.update(note)
    return write_table(path, len(y), features, [task], [(0, x, {task: y})], description)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    a = parser.parse_args()
    if a.dataset == "synthetic":
        if a.rows < TEST_MODULUS * 2 or a.features < 1 or a.classes < 2:
            sys.exit(f"train_data.py: error: --rows must be at least {TEST_MODULUS * 2}, --features at least 1 and "
                     f"--classes at least 2 (got {a.rows}, {a.features}, {a.classes})")
        meta = synthetic(a.out, a.rows, a.features, a.classes, a.seed)
    else:
        meta = bundled(a.out, a.dataset)
    print(f"wrote {a.out}: {meta['rows']} rows x {len(meta['features'])} features, labels "
          f"{', '.join(f'{c} ({t})' for t, c in meta['labels'].items())} "
          f"({meta['train_rows']} train, {meta['test_rows']} test)")


if __name__ == "__main__":
    main()
