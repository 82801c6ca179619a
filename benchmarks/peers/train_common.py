"""What every tool of train_comparisons.sh shares, so that all of them answer the same question:
the data (train_data.py's HDF5 table and its .json description), the split (id % 5 == 0 -> test),
shardflow's standardization (mean and population standard deviation of the training rows, 1
where it is 0), the training objective and the evaluation metrics as shardflow defines them.

Cases (models) live in CASES: each names its task (the label column it trains on: binary `label`,
regression `target`, multiclass `class`), shardflow's `model:` entry, the objective and the
scores. A case's parameters are a tuple of numpy arrays in the case's own layout (logistic,
linear: (w, b); softmax: (W K x d, b K, classes); mlp: ((W1, b1), (W2, b2), ...) with each W
fan_out x fan_in, plus the classes). Adding a model means adding a case here, its estimators in
train_sklearn.py and its module in train_torch_ddp.py, and in train_comparisons.sh its name in
ALL_CASES, the data sets it fits in FITS and its training settings on each in case_settings.
"""
import json
import math
import time

import h5py
import numpy as np
from sklearn.metrics import roc_auc_score  # imported here, not in the timed evaluation

PROCESS_START = time.time()  # as early as this module's import: the peers import it first


def emit(record):
    """One JSON line on stdout (NaN/inf as strings, as the other benchmarks write them)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v).replace("nan", "NaN").replace("inf", "Infinity")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v
    print(json.dumps(clean(record)), flush=True)


def describe(path):
    with open(path + ".json") as f:
        return json.load(f)


def label_column(meta, task):
    """The data set's label column for `task` (binary, regression, multiclass); files written
    before train_data.py knew more than one task have only the binary `label`."""
    labels = meta.get("labels") or {"binary": meta["label"]}
    if task not in labels:
        raise SystemExit(f"error: the data set {meta.get('dataset', meta['path'])} has no {task} label (it has: "
                         f"{', '.join(f'{c} ({t})' for t, c in labels.items())}); rewrite it with train_data.py")
    return labels[task]


def load_split(path, task="binary"):
    """(x_train, y_train, x_test, y_test), float64 row-major features in meta['features'] order,
    rows in file order (shardflow's filters keep it); y: the task's label column as float64."""
    meta = describe(path)
    label = label_column(meta, task)
    # Each column goes straight into its split's matrix: no whole-table matrix is copied (at 2e7 x 64
    # that copy, 10 GB, did not fit beside the split on a 24 GB machine).
    with h5py.File(path, "r") as f:
        test = f[meta["id"]][:] % meta["test_modulus"] == 0
        train = ~test
        y = f[label][:].astype(np.float64)
        d = len(meta["features"])
        x_train = np.empty((int(train.sum()), d), dtype=np.float64)
        x_test = np.empty((int(test.sum()), d), dtype=np.float64)
        for j, name in enumerate(meta["features"]):
            column = f[name][:]
            x_train[:, j] = column[train]
            x_test[:, j] = column[test]
    return x_train, y[train], x_test, y[test]


STANDARD_CHUNK = 1 << 16  # rows per block of fit_standard's second pass


def fit_standard(x):
    """shardflow's StandardScaler: mean and population standard deviation, 1 where it is 0. The
    deviations are summed by blocks of rows, so no temporary as large as x is made."""
    mean = x.mean(axis=0)
    squares = np.zeros(x.shape[1])
    for begin in range(0, len(x), STANDARD_CHUNK):
        deviation = x[begin:begin + STANDARD_CHUNK] - mean
        squares += np.einsum("ij,ij->j", deviation, deviation)
    scale = np.sqrt(squares / len(x))
    scale[scale == 0] = 1.0
    return mean, scale


def standardize(x, mean, scale):
    """(x - mean) / scale in place (x is returned): the same values without a copy of x."""
    x -= mean
    x /= scale
    return x


def log1pexp(z):
    return np.logaddexp(0.0, z)


def class_index(y, classes):
    """Each label's position in `classes` (shardflow's encoding: the classes are the training
    labels' distinct values, ascending); -1 for a value that is not a class."""
    i = np.searchsorted(classes, y)
    i = np.minimum(i, len(classes) - 1)
    return np.where(classes[i] == y, i, -1)


def softmax_rows(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mean_cross_entropy(z, index):
    """mean over rows of log sum_k e^{z_k} - z_y (shardflow's softmax loss)."""
    m = z.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(z - m).sum(axis=1)))
    return float(np.mean(lse - z[np.arange(len(index)), index]))


class Logistic:
    """Binary logistic regression: p = sigmoid(x . w + b); objective mean log loss + l2/2 ||w||^2
    (intercept not penalized), shardflow's `model: {type: logistic, l2: L}`. Parameters (w, b)."""
    name = "logistic"
    task = "binary"
    metrics = ["auc", "logloss", "accuracy"]
    exact = "LogisticRegression(lbfgs)"  # scikit-learn's estimator of the exact optimum
    objective_text = "mean log loss + l2/2 ||w||^2"

    @staticmethod
    def yaml(l2):
        return f"{{type: logistic, l2: {l2!r}}}"

    @staticmethod
    def objective(params, x, y, l2):
        w, b = params
        z = x @ w + b
        return float(np.mean(log1pexp(z) - y * z) + 0.5 * l2 * float(w @ w))

    @staticmethod
    def scores(params, x):
        w, b = params
        z = x @ w + b
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow warnings

    @staticmethod
    def from_shardflow(weights, d, classes):
        """shardflow's model/weights: the d coefficients, then the intercept."""
        return weights[:d].copy(), float(weights[d])


class Linear:
    """Least squares / ridge regression: prediction x . w + b; objective mean((x . w + b - y)^2)/2
    + l2/2 ||w||^2 (intercept not penalized), shardflow's `model: {type: linear, l2: L}` -- the
    minimizer of scikit-learn's Ridge(alpha = l2 * n_train). Parameters (w, b)."""
    name = "linear"
    task = "regression"
    metrics = ["rmse", "mae", "r2"]
    exact = "Ridge(cholesky)"
    objective_text = "mean squared error / 2 + l2/2 ||w||^2"

    @staticmethod
    def yaml(l2):
        return f"{{type: linear, l2: {l2!r}}}"

    @staticmethod
    def objective(params, x, y, l2):
        w, b = params
        r = x @ w + b - y
        return float(0.5 * np.mean(r * r) + 0.5 * l2 * float(w @ w))

    @staticmethod
    def scores(params, x):
        w, b = params
        return x @ w + b

    from_shardflow = Logistic.from_shardflow


class Softmax:
    """Multinomial logistic regression: P(c) = softmax(W x + b)_c over the classes (the training
    labels' distinct values, ascending); objective mean cross-entropy + l2/2 ||W||^2 (intercepts
    not penalized), shardflow's `model: {type: softmax, l2: L}` -- the minimizer of scikit-learn's
    LogisticRegression(multi_class='multinomial', C = 1/(l2 * n_train)). Parameters (W K x d,
    b K, classes K)."""
    name = "softmax"
    task = "multiclass"
    metrics = ["accuracy", "logloss", "macro_f1"]
    exact = "LogisticRegression(multinomial, lbfgs)"
    objective_text = "mean cross-entropy + l2/2 ||W||^2"

    @staticmethod
    def yaml(l2):
        return f"{{type: softmax, l2: {l2!r}}}"

    @staticmethod
    def objective(params, x, y, l2):
        w, b, classes = params
        return mean_cross_entropy(x @ w.T + b, class_index(y, classes)) + 0.5 * l2 * float(np.sum(w * w))

    @staticmethod
    def scores(params, x):
        w, b, _ = params
        return softmax_rows(x @ w.T + b)

    @staticmethod
    def from_shardflow(weights, d, classes):
        """shardflow's model/weights, class-major: class c's d coefficients, then its intercept, at
        [c (d + 1), (c + 1)(d + 1)); model/classes: the K class values."""
        k = len(classes)
        if len(weights) != k * (d + 1):
            raise SystemExit(f"error: model/weights has {len(weights)} values; a softmax model of {k} classes and "
                             f"{d} features has {k * (d + 1)}")
        m = weights.reshape(k, d + 1)
        return m[:, :d].copy(), m[:, d].copy(), np.asarray(classes, dtype=np.float64)


class Mlp:
    """A multilayer perceptron for multiclass labels: hidden layers of `activation`, softmax output;
    loss mean cross-entropy + l2/2 ||all weights||^2 (biases not penalized), shardflow's `model:
    {type: mlp, task: multiclass, hidden: [64], activation: relu, l2: L}`. Non-convex: no exact
    optimum and no objective compared, only the metrics and the time. Parameters (layers, classes)
    with layers ((W1 fan_out x fan_in, b1), ...)."""
    name = "mlp"
    task = "multiclass"
    metrics = ["accuracy", "logloss", "macro_f1"]
    exact = None
    objective_text = None
    hidden = [64]
    activation = "relu"

    @classmethod
    def yaml(cls, l2):
        return (f"{{type: mlp, task: multiclass, hidden: [{', '.join(map(str, cls.hidden))}], "
                f"activation: {cls.activation}, l2: {l2!r}}}")

    objective = None  # not compared (see the class comment)

    @classmethod
    def scores(cls, params, x):
        layers, _ = params
        a = x
        for i, (w, b) in enumerate(layers):
            a = a @ w.T + b
            if i < len(layers) - 1:
                a = np.maximum(a, 0.0) if cls.activation == "relu" else np.tanh(a)
        return softmax_rows(a)

    from_shardflow = None  # not read back: train_shardflow.py takes the metrics from metrics.json


CASES = {"logistic": Logistic, "linear": Linear, "softmax": Softmax, "mlp": Mlp}


def macro_f1(index, predicted, k):
    """shardflow's macro F1: the mean over the classes that are true or predicted at least once of
    2 tp / (2 tp + fp + fn)."""
    total, present = 0.0, 0
    for c in range(k):
        tp = int(np.sum((index == c) & (predicted == c)))
        fp = int(np.sum((index != c) & (predicted == c)))
        fn = int(np.sum((index == c) & (predicted != c)))
        if tp + fp + fn:
            total += 2 * tp / (2 * tp + fp + fn)
            present += 1
    return total / present


def evaluate(case, y, p, classes=None):
    """shardflow's metric definitions. binary (p: P(1)): auc (exact Mann-Whitney, ties half),
    logloss (mean, p clipped to [1e-15, 1 - 1e-15]), accuracy (p >= 0.5). regression (p: the
    predictions): rmse, mae, r2 (1 - SS_res / SS_tot around the test labels' mean). multiclass (p:
    n x K probabilities over `classes`): accuracy (argmax, ties to the lowest class), logloss (mean
    -log P(true class) clipped to [1e-15, 1 - 1e-15]), macro_f1 (macro_f1 above)."""
    out = {}
    if case.task == "multiclass":
        index = class_index(y, np.asarray(classes))
        if np.any(index < 0):
            raise ValueError(f"test labels {sorted(set(y[index < 0].tolist()))} are not among the training classes "
                             f"{list(classes)}")
        predicted = np.argmax(p, axis=1)
    for m in case.metrics:
        if m == "auc":
            out[m] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
        elif m == "logloss" and case.task == "binary":
            q = np.clip(p, 1e-15, 1 - 1e-15)
            out[m] = float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))
        elif m == "accuracy" and case.task == "binary":
            out[m] = float(np.mean((p >= 0.5) == (y == 1)))
        elif m == "accuracy":
            out[m] = float(np.mean(predicted == index))
        elif m == "logloss":
            q = p[np.arange(len(index)), index]
            out[m] = float(-np.mean(np.log(np.clip(q, 1e-15, 1 - 1e-15))))
        elif m == "macro_f1":
            out[m] = macro_f1(index, predicted, len(classes))
        elif m == "rmse":
            out[m] = float(np.sqrt(np.mean((y - p) ** 2)))
        elif m == "mae":
            out[m] = float(np.mean(np.abs(y - p)))
        elif m == "r2":
            out[m] = float(1.0 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))
        else:
            raise ValueError(f"no definition of metric '{m}' in train_common.evaluate")
    return out


def read_shardflow_model(path):
    """A shardflow model.h5 (checkpoint layout): model/weights (the case's layout, see each case's
    from_shardflow), model/classes (softmax, mlp multiclass: the K class values); meta's
    `feature_pipeline` attribute (JSON: the transforms and their fitted values) gives the standard
    scaler's means and scales (empty without `scale: standard`; files written before feature
    pipelines hold them as features/mean and features/scale); meta's `features` attribute (JSON
    list; older files have none) names the inputs, `model_type` the model. Returns a dict of those."""
    text = (lambda v: v.decode() if isinstance(v, bytes) else v)
    with h5py.File(path, "r") as f:
        out = {"weights": f["model/weights"][:],
               "classes": f["model/classes"][:] if "model/classes" in f else None,
               "mean": f["features/mean"][:] if "features/mean" in f else np.empty(0),
               "scale": f["features/scale"][:] if "features/scale" in f else np.empty(0)}
        attrs = f["meta"].attrs if "meta" in f else {}
        names = attrs.get("features")
        model_type = attrs.get("model_type")
        pipeline = attrs.get("feature_pipeline")
    if pipeline is not None:
        for t in json.loads(text(pipeline))["transforms"]:
            if t["kind"] != "scale: standard":
                raise ValueError(f"{path}: the benchmark reads standard scaling only, not {t['kind']}")
            out["mean"], out["scale"] = np.array(t["offset"]), np.array(t["divisor"])
    out["features"] = json.loads(text(names)) if names is not None else None
    out["model_type"] = text(model_type) if model_type is not None else None
    return out
