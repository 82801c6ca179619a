#!/usr/bin/env python3
"""scikit-learn peer of train_comparisons.sh: the same case (model and objective), data, split and
standardization as the shardflow job, with the estimators that fit the case (n: the training
rows; every fit in float64):

  logistic:
    sklearn_lbfgs: the exact optimum, LogisticRegression(solver='lbfgs', C = 1/(l2 * n),
      tol 1e-10): shardflow minimizes mean log loss + l2/2 ||w||^2, scikit-learn
      C * sum log loss + 1/2 ||w||^2, the same minimizer for that C (intercept not penalized in
      either). Its objective is the yardstick of every other tool's.
    sklearn_sgd: SGDClassifier(loss='log_loss', penalty='l2', alpha=l2, learning_rate='invscaling',
      eta0=lr), one partial_fit per epoch, `epochs` epochs, each epoch in a new shuffled order.
      scikit-learn's SGD updates per sample (batch size 1), so its seconds per epoch, not its
      objective, are what compares with mini-batch SGD; the rate starts at the job's lr and decays
      as lr / t^0.25 (t: samples seen), since per-sample steps at a constant mini-batch rate do not
      converge (lr 0.1 constant: objective 0.74 against the optimum's 0.36 on 16000 rows).
  linear:
    sklearn_ridge: the exact optimum, Ridge(alpha = l2 * n, solver='cholesky'): Ridge minimizes
      ||y - X w - b||^2 + alpha ||w||^2, which is 2n times shardflow's mean squared error / 2 +
      l2/2 ||w||^2 (intercept not penalized in either): the same minimizer, in closed form.
    sklearn_sgd: SGDRegressor(loss='squared_error', penalty='l2', alpha=l2) (its objective is mean
      (y - f)^2 / 2 + alpha/2 ||w||^2: shardflow's), per-sample steps as SGDClassifier's above,
      the rate eta0 / t^0.25 with eta0 = min(lr, 1/d): a per-sample step on the squared loss
      multiplies the error by 1 - eta ||x||^2 and standardized rows have ||x||^2 about d, so the
      job's mini-batch rate (0.1 at d = 64) diverges at batch size 1.
  softmax:
    sklearn_lbfgs: the exact optimum, LogisticRegression(multi_class='multinomial',
      solver='lbfgs', C = 1/(l2 * n), tol 1e-10): C * sum cross-entropy + 1/2 ||W||^2, K full
      coefficient vectors, intercepts not penalized: shardflow's minimizer. (No SGD peer:
      SGDClassifier fits one-vs-rest binary models, another objective.)
  mlp:
    sklearn_mlp: MLPClassifier(hidden_layer_sizes, activation, solver='adam' or 'sgd' as the job's
      optimizer, the job's lr, batch_size, betas, eps or momentum (nesterovs_momentum=False,
      constant rate), alpha = l2 * batch_size), one partial_fit per epoch, each in a new
      shuffled order. MLPClassifier's loss on a batch of m rows is mean cross-entropy +
      alpha/(2 m) ||W||^2 (sklearn/neural_network/_multilayer_perceptron.py, _backprop), so
      alpha = l2 * batch_size gives shardflow's mean cross-entropy + l2/2 ||W||^2 on every full
      batch; an epoch's last, partial batch of m < batch_size rows is penalized batch_size/m times
      as much (shardflow's penalty does not depend on the batch). It initializes the weights as
      shardflow does (Glorot uniform, +-sqrt(6/(fan_in + fan_out))) but from its own random
      stream, and draws the biases from the same range (shardflow: 0).

    train_sklearn.py DATA.h5 --case logistic --l2 L --lr LR --epochs E --threads T --run R
        [--batch-size B] [--optimizer sgd|adam|lbfgs] [--momentum M] [--beta1 B1] [--beta2 B2]
        [--eps EPS] [--only-threaded] [--seed S]

`--optimizer lbfgs` (shardflow trains with lbfgs): the exact solvers, plus (logistic)
LogisticRegression at its default tol, what a user who does not set tol gets; no per-sample SGD.

Prints one JSON line per estimator (`--only-threaded`: only those whose fit uses the T BLAS
threads, not the single-threaded per-sample SGD: for a second thread count). Times:
`to_first_step` from this process's start (before numpy and scikit-learn are imported) to the
start of the fit (the same for every estimator: the one that runs second is not charged with the
other's fit); `load_seconds` reading the HDF5 file; `setup_seconds` the standardization;
`train_seconds` the fit (exact solvers) or all epochs (SGD, MLP); `eval_seconds` scoring the test
rows and computing the metrics. T sets the BLAS/OpenMP threads.
"""
import argparse
import os
import time

START = time.time()
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("data")
parser.add_argument("--case", default="logistic")
parser.add_argument("--l2", type=float, required=True)
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--optimizer", choices=["sgd", "adam", "lbfgs"], default="sgd")
parser.add_argument("--momentum", type=float, default=0.0)
parser.add_argument("--beta1", type=float, default=0.9)
parser.add_argument("--beta2", type=float, default=0.999)
parser.add_argument("--eps", type=float, default=1e-8)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--run", type=int, default=1)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--only-threaded", action="store_true")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier, SGDRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

import train_common as tc  # noqa: E402


def fit_recording_convergence(model, x, y):
    """Fits; True if scikit-learn did not warn that it stopped before converging."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x, y)
    return not any(issubclass(c.category, ConvergenceWarning) for c in caught)


def per_sample_epochs(model, x, y, a, epoch_done, **partial_fit_args):
    """`epochs` partial_fit calls, each a new shuffled order (partial_fit reseeds from
    random_state), each timed."""
    for epoch in range(a.epochs):
        model.set_params(random_state=a.seed + epoch)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x, y, **partial_fit_args)
        epoch_done(time.perf_counter() - t)


# Each estimator: (tool, uses the BLAS threads, fit(x, y, a, epoch_done) -> (params, fields)).
# `epoch_done(seconds)`: called once per epoch by the epoch-wise ones; params in train_common's
# layout of the case.

def logistic_exact(x, y, a, epoch_done):
    model = LogisticRegression(solver="lbfgs", C=1.0 / (a.l2 * len(y)), tol=1e-10, max_iter=100000)
    converged = fit_recording_convergence(model, x, y)
    return (model.coef_[0], float(model.intercept_[0])), {
        "iterations": int(model.n_iter_[0]), "converged": converged, "exact": True,
        "estimator": "LogisticRegression", "settings": f"lbfgs, C = 1/(l2 n) = {model.C:.6g}, tol 1e-10"}


def logistic_default_tol(x, y, a, epoch_done):
    """What a user who calls LogisticRegression() gets: lbfgs at its default tol (1e-4)."""
    model = LogisticRegression(solver="lbfgs", C=1.0 / (a.l2 * len(y)), max_iter=100000)
    converged = fit_recording_convergence(model, x, y)
    return (model.coef_[0], float(model.intercept_[0])), {
        "iterations": int(model.n_iter_[0]), "converged": converged,
        "estimator": "LogisticRegression", "settings": f"lbfgs, C = 1/(l2 n) = {model.C:.6g}, default tol {model.tol:g}"}


def logistic_sgd(x, y, a, epoch_done):
    model = SGDClassifier(loss="log_loss", penalty="l2", alpha=a.l2, learning_rate="invscaling",
                          eta0=a.lr, power_t=0.25, fit_intercept=True, shuffle=True)
    per_sample_epochs(model, x, y, a, epoch_done, classes=np.array([0.0, 1.0]))
    return (model.coef_[0], float(model.intercept_[0])), {
        "estimator": "SGDClassifier", "settings": f"per-sample SGD, lr {a.lr:g} / t^0.25, alpha = l2"}


def linear_exact(x, y, a, epoch_done):
    model = Ridge(alpha=a.l2 * len(y), solver="cholesky", fit_intercept=True)
    model.fit(x, y)
    return (model.coef_.copy(), float(model.intercept_)), {
        "converged": True, "exact": True, "estimator": "Ridge",
        "settings": f"cholesky (closed form), alpha = l2 n = {model.alpha:.6g}"}


def linear_sgd(x, y, a, epoch_done):
    eta0 = min(a.lr, 1.0 / x.shape[1])
    model = SGDRegressor(loss="squared_error", penalty="l2", alpha=a.l2, learning_rate="invscaling",
                         eta0=eta0, power_t=0.25, fit_intercept=True, shuffle=True)
    per_sample_epochs(model, x, y, a, epoch_done)
    return (model.coef_.copy(), float(model.intercept_[0])), {
        "estimator": "SGDRegressor", "settings": f"per-sample SGD, lr {eta0:g} / t^0.25 (min(lr, 1/d)), alpha = l2"}


def softmax_exact(x, y, a, epoch_done):
    model = LogisticRegression(multi_class="multinomial", solver="lbfgs", C=1.0 / (a.l2 * len(y)), tol=1e-10,
                               max_iter=100000)
    converged = fit_recording_convergence(model, x, y)
    return (model.coef_.copy(), model.intercept_.copy(), model.classes_.astype(np.float64)), {
        "iterations": int(np.max(model.n_iter_)), "converged": converged, "exact": True,
        "estimator": "LogisticRegression",
        "settings": f"multinomial, lbfgs, C = 1/(l2 n) = {model.C:.6g}, tol 1e-10"}


def mlp_adam_or_sgd(x, y, a, epoch_done):
    case = tc.Mlp
    common = dict(hidden_layer_sizes=tuple(case.hidden), activation=case.activation, alpha=a.l2 * a.batch_size,
                  batch_size=a.batch_size, learning_rate_init=a.lr, shuffle=True, random_state=a.seed,
                  early_stopping=False, tol=0.0, n_iter_no_change=a.epochs + 1, max_iter=a.epochs)
    if a.optimizer == "adam":
        model = MLPClassifier(solver="adam", beta_1=a.beta1, beta_2=a.beta2, epsilon=a.eps, **common)
        rule = f"adam lr {a.lr:g}, betas {a.beta1:g} {a.beta2:g}, eps {a.eps:g}"
    else:
        model = MLPClassifier(solver="sgd", learning_rate="constant", momentum=a.momentum,
                              nesterovs_momentum=False, **common)
        rule = f"sgd lr {a.lr:g}, momentum {a.momentum:g}"
    classes = np.unique(y)
    per_sample_epochs(model, x, y, a, epoch_done, classes=classes)  # one mini-batch epoch per call
    layers = tuple((w.T.copy(), b.copy()) for w, b in zip(model.coefs_, model.intercepts_))
    return (layers, model.classes_.astype(np.float64)), {
        "estimator": "MLPClassifier",
        "settings": f"hidden {list(case.hidden)}, {case.activation}, {rule}, batch {a.batch_size}, "
                    f"alpha = l2 * batch = {a.l2 * a.batch_size:g}"}


SKLEARN_CASES = {
    "logistic": [("sklearn_lbfgs", True, logistic_exact), ("sklearn_lbfgs_default", True, logistic_default_tol),
                 ("sklearn_sgd", False, logistic_sgd)],
    "linear": [("sklearn_ridge", True, linear_exact), ("sklearn_sgd", False, linear_sgd)],
    "softmax": [("sklearn_lbfgs", True, softmax_exact)],
    "mlp": [("sklearn_mlp", True, mlp_adam_or_sgd)],
}

if args.case not in tc.CASES or args.case not in SKLEARN_CASES:
    raise SystemExit(f"train_sklearn.py: error: unknown case '{args.case}' (cases with scikit-learn estimators: "
                     f"{' '.join(SKLEARN_CASES)}; add one to SKLEARN_CASES and train_common.CASES)")
case = tc.CASES[args.case]

t = time.perf_counter()
x_train, y_train, x_test, y_test = tc.load_split(args.data, case.task)
load_seconds = time.perf_counter() - t
t = time.perf_counter()
mean, scale = tc.fit_standard(x_train)
x_train = tc.standardize(x_train, mean, scale)
x_test = tc.standardize(x_test, mean, scale)
setup_seconds = time.perf_counter() - t
n = len(y_train)
base = {"bench": "train", "case": case.name, "dataset": tc.describe(args.data)["dataset"], "threads": args.threads,
        "run": args.run, "rows_train": n, "rows_test": len(y_test), "features": x_train.shape[1],
        "load_seconds": load_seconds, "setup_seconds": setup_seconds, "version": sklearn.__version__}


def finish(record, params):
    t = time.perf_counter()
    classes = params[-1] if case.task == "multiclass" else None
    metrics = tc.evaluate(case, y_test, case.scores(params, x_test), classes)
    record["eval_seconds"] = time.perf_counter() - t
    record["metrics"] = metrics
    record["objective"] = case.objective(params, x_train, y_train, args.l2) if case.objective else None
    tc.emit(record)


# Every estimator runs in this one process, one after the other: each one's time to its first
# step is what a process of its own would take (imports, loading, standardizing), not another's fit.
first = time.time() - START
for tool, threaded, fit in SKLEARN_CASES[args.case]:
    if args.only_threaded and not threaded:
        continue
    # Against shardflow's lbfgs: scikit-learn's lbfgs (exact and at its default tol), not its
    # per-sample SGD; against shardflow's SGD or Adam: not the default-tol lbfgs.
    if args.optimizer == "lbfgs" and tool in ("sklearn_sgd", "sklearn_mlp"):
        continue
    if args.optimizer != "lbfgs" and tool == "sklearn_lbfgs_default":
        continue
    epochs = []
    t = time.perf_counter()
    params, fields = fit(x_train, y_train, args, epochs.append)
    seconds = time.perf_counter() - t
    finish(dict(base, tool=tool, threads=args.threads if threaded else 1, to_first_step=first,
                train_seconds=sum(epochs) if epochs else seconds, epoch_seconds=epochs or None, **fields), params)
