# Helpers for the stage-cache tests (sourced after lib.sh): a job over a CSV input that can be
# edited, and readers of metrics.json.

# write_cache_job FILE WORKDIR CSV: a job with a csv input, four steps, two outputs and training.
write_cache_job() {
  cat > "$1" <<YAML
name: cachejob
seed: 7
workdir: $2
inputs:
  events:
    format: csv
    path: $3
    schema: {id: int64, segment: string, x1: float64, x2: float64, x3: float64, x4: float64, amount: float64, label: int64}
steps:
  - {op: filter, input: events, where: "amount > 0", output: clean}
  - {op: filter, input: clean, where: "id % 5 != 0", output: train_set}
  - {op: filter, input: clean, where: "id % 5 == 0", output: test_set}
  - {op: group_by, input: clean, keys: [segment], aggs: {amount: [sum, mean], label: [mean], "*": [count]}, output: by_segment}
outputs:
  - {table: by_segment, path: by_segment.h5}
  - {table: test_set, path: test_set.h5}
train:
  input: train_set
  label: label
  features: {numeric: [x1, x2, x3, x4]}
  transforms: [{scale: standard}]
  model: {type: logistic, l2: 1.0e-4}
  optimizer: {type: sgd, lr: 0.1, batch_size: 512, epochs: 2, momentum: 0.9}
  checkpoint: {every_steps: 20, keep: 2}
evaluate: {input: test_set, metrics: [auc, logloss, accuracy]}
YAML
}

# reused_steps WORKDIR: "name=true|false ..." for every step in metrics.json, in order.
reused_steps() {
  $PY -c '
import json, sys
m = json.load(open(sys.argv[1] + "/metrics.json"))
print(" ".join(s["name"] + "=" + str(s["reused"]).lower() for s in m["steps"]))' "$1"
}

# train_field WORKDIR KEY: metrics.json train.KEY
train_field() {
  $PY -c 'import json,sys; v=json.load(open(sys.argv[1]+"/metrics.json"))["train"][sys.argv[2]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2"
}
