"""Reads back a model that shardflow trained with a standard scaler, for comparing it with other
tools on the same data (tests/e2e/test_lbfgs.sh):

    weights, x, df = load(RUN_WORKDIR, DATA.csv, ["a", "b", ...])

weights: /model/weights of RUN_WORKDIR/model.h5; df: the CSV as a DataFrame; x: the feature
columns standardized with the offsets and divisors fitted in training (model.h5's
feature_pipeline), i.e. the matrix the model was trained on."""
import json

import h5py
import numpy as np
import pandas as pd


def load(run, data, features):
    with h5py.File(f"{run}/model.h5", "r") as f:
        attr = f["meta"].attrs["feature_pipeline"]
        pipeline = json.loads(attr.decode() if isinstance(attr, bytes) else str(attr))
        weights = f["model/weights"][:]
    (scale,) = [t for t in pipeline["transforms"] if t["kind"] == "scale: standard"]
    df = pd.read_csv(data)
    x = (df[features].to_numpy() - np.array(scale["offset"])) / np.array(scale["divisor"])
    return weights, x, df
