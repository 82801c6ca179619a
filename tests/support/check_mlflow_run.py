#!/usr/bin/env python3
"""Checks one run of an MLflow file store written by shardflow, field by field against the
layout MLflow's FileStore reads (mlflow/store/tracking/file_store.py):

    check_mlflow_run.py STORE EXPERIMENT_NAME RUN_ID WORKDIR JOB_FILE STATUS [RANKS]

STATUS is MLflow's RunStatus number (3 finished, 4 failed, 5 killed). Prints what is wrong and
exits 1, or prints "ok" lines."""
import json
import math
import os
import re
import sys

import yaml

store, exp_name, run_id, workdir, job_file, status = sys.argv[1:7]
ranks = sys.argv[7] if len(sys.argv) > 7 else None
status = int(status)
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def meta(path):
    with open(path) as f:
        return yaml.safe_load(f)


# Experiments: Default (0) and ours, each with MLflow's experiment meta fields.
exps = {}
for d in os.listdir(store):
    p = os.path.join(store, d, "meta.yaml")
    if d.isdigit() and os.path.isfile(p):
        m = meta(p)
        exps[d] = m
        check(set(m) == {"artifact_location", "creation_time", "experiment_id", "last_update_time",
                         "lifecycle_stage", "name"}, f"experiment {d} meta.yaml keys {sorted(m)}")
        check(m["experiment_id"] == d and isinstance(m["experiment_id"], str),
              f"experiment {d}: experiment_id {m['experiment_id']!r}")
        check(m["artifact_location"] == "file://" + os.path.join(os.path.abspath(store), d),
              f"experiment {d}: artifact_location {m['artifact_location']}")
        check(m["lifecycle_stage"] == "active", f"experiment {d}: lifecycle_stage")
        check(isinstance(m["creation_time"], int) and m["creation_time"] > 1.6e12, f"experiment {d}: creation_time")
check(exps.get("0", {}).get("name") == "Default", "no Default experiment 0")
named = [d for d, m in exps.items() if m["name"] == exp_name]
check(len(named) == 1, f"experiments named {exp_name!r}: {named}")
exp_id = named[0] if named else "?"

run_dir = os.path.join(store, exp_id, run_id)
m = meta(os.path.join(run_dir, "meta.yaml"))
check(set(m) == {"artifact_uri", "end_time", "entry_point_name", "experiment_id", "lifecycle_stage",
                 "run_id", "run_name", "run_uuid", "source_name", "source_type", "source_version",
                 "start_time", "status", "tags", "user_id"}, f"run meta.yaml keys {sorted(m)}")
check(m["run_id"] == run_id and m["run_uuid"] == run_id, "run_id / run_uuid")
check(re.fullmatch(r"[0-9a-f]{32}", run_id) is not None, f"run id {run_id} is not 32 hex digits")
check(m["experiment_id"] == exp_id, f"run experiment_id {m['experiment_id']!r}")
check(m["artifact_uri"] == "file://" + os.path.join(os.path.abspath(run_dir), "artifacts"), f"artifact_uri {m['artifact_uri']}")
check(m["status"] == status, f"status {m['status']}, expected {status}")
check(m["lifecycle_stage"] == "active", "run lifecycle_stage")
check(m["source_type"] == 4, "source_type (LOCAL = 4)")
check(m["source_name"] == os.path.abspath(job_file), f"source_name {m['source_name']}")
check(isinstance(m["user_id"], str) and m["user_id"], "user_id")
check(m["tags"] == [], "tags in meta.yaml")
check(isinstance(m["start_time"], int) and m["start_time"] > 1.6e12, "start_time")
if status == 1:
    check(m["end_time"] is None, "a running run has an end_time")
else:
    check(isinstance(m["end_time"], int) and m["end_time"] >= m["start_time"], f"end_time {m['end_time']}")


def read(*parts):
    with open(os.path.join(run_dir, *parts)) as f:
        return f.read()


tags = {t: read("tags", t) for t in os.listdir(os.path.join(run_dir, "tags"))}
for t in ("mlflow.runName", "mlflow.user", "mlflow.source.name", "mlflow.source.type",
          "shardflow.job_fingerprint", "shardflow.world_size", "shardflow.version", "shardflow.restarts"):
    check(t in tags, f"tag {t} missing")
check(tags.get("mlflow.runName") == m["run_name"], "tag mlflow.runName != run_name")
check(tags.get("mlflow.source.type") == "LOCAL", "tag mlflow.source.type")
check(tags.get("mlflow.source.name") == os.path.abspath(job_file), "tag mlflow.source.name")
if ranks:
    check(tags.get("shardflow.world_size") == ranks, f"tag shardflow.world_size {tags.get('shardflow.world_size')}")

params = {p: read("params", p) for p in os.listdir(os.path.join(run_dir, "params"))}
resolved = yaml.safe_load(read("artifacts", "job.resolved.yaml"))


def flat(node, prefix, out):
    if isinstance(node, dict):
        for k, v in node.items():
            flat(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(node, list):
        if not node:
            out[prefix] = []
        for i, v in enumerate(node):
            flat(v, f"{prefix}.{i}", out)
    else:
        out[prefix] = node
    return out


safe = lambda k: re.sub(r"[^A-Za-z0-9_.-]", "_", k)
expected = flat(resolved, "", {})
check(len(params) == len(expected), f"{len(params)} params for {len(expected)} resolved job values")
for k, v in expected.items():
    got = params.get(safe(k))
    # yaml reads "0.1" as a float and "true" as a bool: compare through YAML.
    check(got is not None and yaml.safe_load(got) == v, f"param {k}: {got!r}, resolved job {v!r}")

if status == 3:
    record = json.load(open(os.path.join(workdir, "metrics.json")))
    check(tags.get("shardflow.job_fingerprint") == record["fingerprint"], "tag shardflow.job_fingerprint != metrics.json")
    for name, inp in record["inputs"].items():
        check(tags.get(f"shardflow.input.{name}.fingerprint") == inp["fingerprint"], f"tag of input {name}")
    metrics = {}
    for name in os.listdir(os.path.join(run_dir, "metrics")):
        lines = read("metrics", name).splitlines()
        for line in lines:
            check(re.fullmatch(r"\d{13} (-?[0-9.e+-]+|nan|inf|-inf) \d+", line) is not None, f"metric {name}: line {line!r}")
        metrics[name] = [(int(a), float(b), int(c)) for a, b, c in (l.split(" ") for l in lines)]
    for name, value in record["metrics"].items():
        got = metrics.get(name, [])
        check(got and (value is None and math.isnan(got[-1][1]) or got[-1][1] == value), f"metric {name}: {got}, metrics.json {value}")
    check(metrics.get("job.seconds", [(0, 0, 0)])[-1][1] == record["seconds"], "metric job.seconds")
    for s in record["steps"]:
        check(metrics.get(f"step.{safe(s['name'])}.seconds", [(0, -1, 0)])[-1][1] == s["seconds"], f"metric of step {s['name']}")
        for part in ("comm_seconds", "io_seconds"):
            check(metrics.get(f"step.{safe(s['name'])}.{part}", [(0, -1, 0)])[-1][1] == s[part], f"metric {part} of step {s['name']}")
        for table, rows in s["rows"].items():
            check(metrics.get(f"step.{safe(s['name'])}.rows.{safe(table)}", [(0, -1, 0)])[-1][1] == rows, f"rows of {table}")
    if record.get("train"):
        losses = record["train"]["epoch_loss"]
        got = metrics.get("train.epoch_loss", [])
        check([(v, st) for _, v, st in got[-len(losses):]] == [(v, i + 1) for i, v in enumerate(losses)],
              f"train.epoch_loss {got}, metrics.json {losses}")
        if not record["train"]["reused"] and record["train"]["resumed_from_step"] < 0:
            steps = [(st, v) for _, v, st in metrics.get("train.loss", [])][-record["train"]["steps"]:]
            check([st for st, _ in steps] == list(range(1, record["train"]["steps"] + 1)),
                  f"train.loss steps {[st for st, _ in steps][:5]}..., expected 1..{record['train']['steps']}")
            check(steps and steps[-1][1] == record["train"]["last_batch_loss"], "the last train.loss != last_batch_loss")
            per_epoch = len(steps) // max(1, len(losses))
            for e, mean in enumerate(losses):
                chunk = [v for _, v in steps[e * per_epoch:(e + 1) * per_epoch]]
                check(chunk and abs(sum(chunk) / len(chunk) - mean) <= 1e-12 * max(1, abs(mean)), f"epoch {e + 1}: mean train.loss != epoch_loss")
        epochs = record["train"]["epoch_seconds"]
        got = metrics.get("train.epoch_seconds", [])
        check([(v, st) for _, v, st in got[-len(epochs):]] == [(v, i + 1) for i, v in enumerate(epochs)],
              f"train.epoch_seconds {got}, metrics.json {epochs}")
    for art, src in (("metrics.json", os.path.join(workdir, "metrics.json")), (os.path.basename(job_file), job_file),
                     ("model.h5", os.path.join(workdir, "model.h5")), ("report.html", os.path.join(workdir, "report.html"))):
        if os.path.exists(src):
            check(open(os.path.join(run_dir, "artifacts", art), "rb").read() == open(src, "rb").read(), f"artifact {art} differs from {src}")
# The run log: this attempt's copy of <workdir>/run.log, taken as the run finished or failed (the
# file goes on for a line or two), as run.log or run.restart<k>.log for the k-th restart.
if status in (3, 4, 5) and os.path.exists(os.path.join(workdir, "run.log")):
    k = int(tags.get("shardflow.restarts", "0"))
    art = os.path.join(run_dir, "artifacts", "run.log" if k == 0 else f"run.restart{k}.log")
    check(os.path.isfile(art), f"no artifact {os.path.basename(art)}")
    if os.path.isfile(art):
        got = open(art, "rb").read()
        check(len(got) > 0 and open(os.path.join(workdir, "run.log"), "rb").read().startswith(got),
              f"artifact {os.path.basename(art)} is not the start of {workdir}/run.log")
if errors:
    print("\n".join("FAIL: " + e for e in errors))
    sys.exit(1)
print(f"ok: run {run_id} of experiment {exp_name!r} ({exp_id}) matches MLflow's file-store layout ({len(params)} params, {len(tags)} tags)")
