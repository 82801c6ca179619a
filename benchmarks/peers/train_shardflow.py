#!/usr/bin/env python3
"""The shardflow side of train_comparisons.sh: one JSON line from a finished `shardflow run`.

    train_shardflow.py WORKDIR DATA.h5 --case logistic|linear|softmax|mlp --l2 L --ranks R --run K --log LOG
        --launch EPOCH_SECONDS --wall SECONDS

Timings from WORKDIR/metrics.json: train.seconds (training: the matrix from the table, the scaler,
every step, the final checkpoint), and when the run reports them train.setup_seconds (start of
training to the first step), train.epoch_seconds, train.allreduce_seconds (or its other name
train.gradient_sum_seconds: the time in the gradient sums) and evaluate.seconds; a field the
binary does not write yet is null ("n/a" in the report), never an error. `to_first_step`: from
the launch of mpirun (--launch, `date +%s.%N`) to the first step, from the time stamp of the log
line shardflow writes right before the first step ("training ... on N rows x d features"; the
log's time stamps are local time of day in milliseconds), null if that line is missing; it covers
MPI start-up, reading the input (`load_seconds`, from the log's "input 'data': ... in S s"), the
two filter steps and their stage-file writes (`stage_seconds`, from metrics.json) and the
training set-up.

The objective (train_common's: logistic, mean log loss + l2/2 ||w||^2; linear, mean squared error
/ 2 + l2/2 ||w||^2; softmax, mean cross-entropy + l2/2 ||W||^2, over the standardized training
rows) is computed here from WORKDIR/model.h5 (the case's weights, the classes, and the job's own
scaler), the same way as every peer's. As a check that this benchmark splits and standardizes as
the job does, the metrics are also recomputed here from model.h5 on the test rows (`check`: the
largest relative difference to metrics.json's) and the scaler refitted in numpy (`scaler_check`).
mlp: neither the objective nor the metrics are recomputed (no numpy forward pass of shardflow's
MLP layout here; the case compares metrics and time, not objectives): `check` is null and
`check_skipped` says why; the scaler is still checked.
"""
import argparse
import datetime
import json
import os
import re

import numpy as np

import train_common as tc

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("workdir")
parser.add_argument("data")
parser.add_argument("--case", default="logistic")
parser.add_argument("--l2", type=float, required=True)
parser.add_argument("--ranks", type=int, required=True)
parser.add_argument("--run", type=int, required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--launch", type=float, required=True)
parser.add_argument("--wall", type=float, required=True)
args = parser.parse_args()
case = tc.CASES[args.case]

with open(os.path.join(args.workdir, "metrics.json")) as f:
    run = json.load(f)
train = run.get("train") or {}
evaluate = run.get("evaluate")
allreduce = train.get("allreduce_seconds", train.get("gradient_sum_seconds"))
with open(args.log, errors="replace") as f:
    log = f.read()
load = re.search(r"\[info\] input 'data': \d+ rows, .* in ([0-9.]+) s", log)


def to_first_step():
    """Launch of mpirun -> the log line written right before the first step."""
    m = re.search(r"^\[(\d\d):(\d\d):(\d\d)\.(\d{3})\] \[r0\] \[info\] training .* on \d+ rows x \d+ features",
                  log, re.MULTILINE)
    if not m:
        return None
    h, mi, s, ms = (int(g) for g in m.groups())
    stamp = h * 3600 + mi * 60 + s + ms / 1000
    launch = datetime.datetime.fromtimestamp(args.launch)
    since_midnight = launch.hour * 3600 + launch.minute * 60 + launch.second + launch.microsecond / 1e6
    return (stamp - since_midnight) % 86400  # a run across midnight


model = os.path.join(args.workdir, "model.h5")
saved = tc.read_shardflow_model(model)
mean, scale, features = saved["mean"], saved["scale"], saved["features"]
if features is not None and features != tc.describe(args.data)["features"]:
    raise SystemExit(f"train_shardflow.py: error: {model} was trained on features {features}, not the data set's "
                     f"{tc.describe(args.data)['features']}: the job must list the features in the data set's order")
if saved["model_type"] is not None and saved["model_type"] != case.name:
    raise SystemExit(f"train_shardflow.py: error: {model} holds a {saved['model_type']} model, not the case's {case.name}")
x_train, y_train, x_test, y_test = tc.load_split(args.data, case.task)
if len(mean):
    fit_mean, fit_scale = tc.fit_standard(x_train)
    scaler_check = float(max(np.max(np.abs(fit_mean - mean) / np.maximum(np.abs(mean), 1e-300), initial=0.0),
                             np.max(np.abs(fit_scale - scale) / scale, initial=0.0)))
    x_train = tc.standardize(x_train, mean, scale)
    x_test = tc.standardize(x_test, mean, scale)
else:
    scaler_check = None
metrics = {k: v for k, v in (run.get("metrics") or {}).items()}
if case.from_shardflow is not None:
    params = case.from_shardflow(saved["weights"], x_train.shape[1], saved["classes"])
    classes = params[-1] if case.task == "multiclass" else None
    recomputed = tc.evaluate(case, y_test, case.scores(params, x_test), classes)
    check = max((abs(recomputed[k] - metrics[k]) / max(abs(metrics[k]), 1e-300)
                 for k in recomputed if metrics.get(k) is not None), default=None)
    objective, check_skipped = case.objective(params, x_train, y_train, args.l2), None
else:
    recomputed = check = objective = None
    check_skipped = (f"{case.name}: metrics not recomputed from model.h5 (no numpy forward pass of shardflow's "
                     "MLP here); as metrics.json reports them")
tc.emit({"bench": "train", "case": case.name, "dataset": tc.describe(args.data)["dataset"], "tool": "shardflow",
         "ranks": args.ranks, "run": args.run, "rows_train": len(y_train), "rows_test": len(y_test),
         "features": x_train.shape[1], "to_first_step": to_first_step(),
         "load_seconds": float(load.group(1)) if load else None,
         "stage_seconds": sum(s.get("stage_seconds") or 0.0 for s in run.get("steps", [])),
         "setup_seconds": train.get("setup_seconds"), "epoch_seconds": train.get("epoch_seconds"),
         "train_seconds": train.get("seconds"), "allreduce_seconds": allreduce,
         "eval_seconds": evaluate.get("seconds") if isinstance(evaluate, dict) else None,
         "steps": train.get("steps"), "job_seconds": run.get("seconds"), "wall_seconds": args.wall,
         "objective": objective, "metrics": metrics,
         "recomputed_metrics": recomputed, "check": check, "check_skipped": check_skipped,
         "scaler_check": scaler_check, "model": train.get("model"), "task": train.get("task"),
         "parameters": train.get("parameters"),
         "missing": [k for k, v in {"train.setup_seconds": train.get("setup_seconds"),
                                    "train.epoch_seconds": train.get("epoch_seconds"),
                                    "train.allreduce_seconds": allreduce,
                                    "evaluate.seconds": evaluate.get("seconds") if isinstance(evaluate, dict) else None
                                    }.items() if v is None]})
