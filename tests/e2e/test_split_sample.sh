#!/usr/bin/env bash
# split (by fractions, stratified, and by time), sample and rebalance_classes through
# `shardflow run` at 1 and 2 ranks: every output is byte-identical at both rank counts and checked
# in Python (exact largest-remainder counts per stratum, input order kept, time ranges, null times
# in the rest, equal class counts); another job seed recomputes the random steps but reuses the
# split by time; `shardflow validate` rejects bad settings with file:line:column before reading
# any data.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
$PY - <<'PY'
import random
random.seed(9)
with open("t.csv", "w") as f:
    f.write("id,label,seg,amount,ts\n")
    for i in range(2400):
        label = random.choices(["0", "1", "2", ""], weights=[70, 20, 8, 2])[0]
        seg = random.choice(["north", "south", "east", ""])
        ts = "" if random.random() < 0.03 else "2024-01-%02d %02d:00:00" % (
            random.randrange(1, 31), random.randrange(24))
        f.write(f"{i},{label},{seg},{random.uniform(-5, 5):.3f},{ts}\n")
PY
cat > job.yaml <<YAML
name: split_e2e
seed: 11
inputs:
  t: {format: csv, path: $TMP/t.csv, schema: {id: int64, label: int64, seg: string, amount: float64, ts: timestamp}}
steps:
  - {op: split, input: t, fractions: {train: 0.7, valid: 0.2, test: 0.1}, stratify_by: label}
  - {op: split, input: t, by_time: ts, cutoffs: {early: '2024-01-10', mid: '2024-01-20T12:00:00'}, rest: late}
  - {op: sample, input: train, fraction: 0.25, stratify_by: [label, seg], output: s}
  - {op: sample, input: t, fraction: 0.05, output: tiny}
  - {op: rebalance_classes, input: train, label: label, method: undersample, output: under}
  - {op: rebalance_classes, input: train, label: label, method: oversample, output: over}
  - {op: filter, input: train, where: "amount > 1 or seg == 'north'", output: fk, rest: fr}
  - {op: sample, input: t, fraction: 0.5, output: half}
  - {op: filter, input: half, where: "amount > 1 or seg == 'north'", output: hk, rest: hr}
outputs:
$(for t in train valid test early mid late s tiny under over fk fr hk hr; do echo "  - {table: $t, path: $t.csv, format: csv}"; done)
runtime: {max_dictionary_size: 2, shuffle_round_bytes: 4096}
YAML
TABLES="train valid test early mid late s tiny under over fk fr hk hr"
expect_exit 0 60 validate 0 validate job.yaml
for np in 0 2; do
  expect_exit 0 300 "run.np$np" "$np" run job.yaml --set "workdir=$TMP/np$np" --log-level debug
done
# Only a table no later step (nor the outputs) reads is taken over by its filter.
grep -q "(filter): takes over table 'half'" "$TMP/run.np2.out" "$TMP/run.np2.err" ||
  fail "the filter did not take over 'half'"
! grep -q "takes over table 'train'" "$TMP/run.np2.out" "$TMP/run.np2.err" ||
  fail "the filter took over 'train', which later steps read"
for f in $TABLES; do
  cmp "$TMP/np0/outputs/$f.csv" "$TMP/np2/outputs/$f.csv" || fail "$f.csv differs between 1 and 2 ranks"
done

$PY - "$TMP/t.csv" "$TMP/np0/outputs" <<'PY' || fail "content check"
import collections, csv, math, sys
def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))
t = read(sys.argv[1])
out = {n: read(f"{sys.argv[2]}/{n}.csv") for n in
       "train valid test early mid late s tiny under over fk fr hk hr".split()}
def ids(rows): return [int(r["id"]) for r in rows]
def counts(rows, key): return collections.Counter(key(r) for r in rows)
def lr(n, fractions):  # largest remainder, ties to the earlier part, the dropped part last
    parts = list(fractions) + ([1 - sum(fractions)] if sum(fractions) < 1 - 1e-9 else [])
    exact = [f * n for f in parts]
    c = [math.floor(e) for e in exact]
    order = sorted(range(len(parts)), key=lambda i: -(exact[i] - c[i]))
    for i in order[: n - sum(c)]:
        c[i] += 1
    return c[: len(fractions)]
by_id = {int(r["id"]): r for r in t}
label = lambda r: r["label"]
# Random split: disjoint, complete, in input order, exact per label (null label a stratum).
parts = [out[n] for n in ("train", "valid", "test")]
for p in parts:
    assert ids(p) == sorted(ids(p)), "split output not in input order"
assert sorted(sum((ids(p) for p in parts), [])) == list(range(len(t))), "split lost or added rows"
n_label = counts(t, label)
assert "" in n_label, "no null labels in the data"
for lab, n in n_label.items():
    want = lr(n, [0.7, 0.2, 0.1])
    got = [counts(p, label)[lab] for p in parts]
    assert got == want, (lab, n, got, want)
# By time: ranges, null times in the rest.
for r in out["early"]: assert r["ts"] and r["ts"] < "2024-01-10", r
for r in out["mid"]: assert "2024-01-10" <= r["ts"] < "2024-01-20 12:00:00", r
for r in out["late"]: assert r["ts"] == "" or r["ts"] >= "2024-01-20 12:00:00", r
assert sum(len(out[n]) for n in ("early", "mid", "late")) == len(t)
assert any(r["ts"] == "" for r in out["late"]), "null times are not in the rest"
# Samples: exact round(f * n) per stratum, rows of the input, in order.
train = out["train"]
key2 = lambda r: (r["label"], r["seg"])
n2 = counts(train, key2)
s2 = counts(out["s"], key2)
for k, n in n2.items():
    assert s2[k] == math.floor(0.25 * n + 0.5), (k, n, s2[k])
assert set(ids(out["s"])) <= set(ids(train)) and ids(out["s"]) == sorted(ids(out["s"]))
assert len(out["tiny"]) == math.floor(0.05 * len(t) + 0.5)
# Rebalancing: every class min (under) or max (over) rows; copies adjacent, input order.
n_train = counts(train, label)
assert set(counts(out["under"], label).values()) == {min(n_train.values())}
assert set(counts(out["over"], label).values()) == {max(n_train.values())}
assert ids(out["over"]) == sorted(ids(out["over"])) and set(ids(out["over"])) == set(ids(train))
# filter with rest: the rows where the condition holds and the others (false or null: a null seg
# with amount <= 1), each in input order. `train` is read by later steps and stays; `half` is
# read by its filter only, which takes it over (the log below) and must give the same answer.
cond = lambda r: float(r["amount"]) > 1 or r["seg"] == "north"
assert ids(out["fk"]) == [int(r["id"]) for r in train if cond(r)]
assert ids(out["fr"]) == [int(r["id"]) for r in train if not cond(r)]
assert any(r["seg"] == "" for r in out["fr"]), "no null condition in the rest"
half = sorted(ids(out["hk"]) + ids(out["hr"]))
assert len(half) == math.floor(0.5 * len(t) + 0.5) and len(set(half)) == len(half)
assert ids(out["hk"]) == [i for i in half if cond(by_id[i])]
assert ids(out["hr"]) == [i for i in half if not cond(by_id[i])]
print("split", [len(p) for p in parts], "by time", [len(out[n]) for n in ("early", "mid", "late")],
      "sample", len(out["s"]), "under", len(out["under"]), "over", len(out["over"]))
PY

# Another job seed: the random steps are recomputed (other rows), the split by time is reused.
expect_exit 0 300 reseed.np2 2 run job.yaml --set "workdir=$TMP/np0" --set seed=12
cat "$TMP/reseed.np2.out" "$TMP/reseed.np2.err" > reseed.log
grep -q "(split) 'early': reused" reseed.log || { cat reseed.log >&2; fail "the split by time was not reused"; }
! grep -q "(split) 'train': reused" reseed.log || fail "the random split was reused under another seed"
! cmp -s "$TMP/np2/outputs/train.csv" "$TMP/np0/outputs/train.csv" || fail "seed 12 gave the same train"
cmp "$TMP/np2/outputs/early.csv" "$TMP/np0/outputs/early.csv" || fail "early changed with the seed"
# A step's own seed overrides the job's.
sed 's/stratify_by: label}/stratify_by: label, seed: 11}/' job.yaml > seeded.yaml
expect_exit 0 300 seeded.np0 0 run seeded.yaml --set "workdir=$TMP/seeded" --set seed=12
cmp "$TMP/np2/outputs/train.csv" "$TMP/seeded/outputs/train.csv" || fail "seed: 11 on the step did not give the seed-11 split"

# validate rejects bad settings with file:line:column, exit 2, before any data is read.
check_invalid() {  # NAME STEP EXPECTED: the step as step 1 of a job on t.csv (no data needed)
  local name="$1" step="$2" expected="$3"
  cat > bad.yaml <<YAML
name: bad
inputs:
  t: {format: csv, path: $TMP/t.csv, schema: {id: int64, label: int64, seg: string, ts: timestamp}}
steps:
  - $step
YAML
  expect_exit 2 60 "$name" 0 validate bad.yaml
  grep -qF -- "$expected" "$TMP/$name.err" || { cat "$TMP/$name.err" >&2; fail "$name: expected '$expected'"; }
}
check_invalid stratum '{op: split, input: t, fractions: {a: 0.5, b: 0.5}, stratify_by: lable}' \
  "bad.yaml:5:69: step 1 (split): stratify_by 'lable' is not a column of table 't'; did you mean 'label'?"
check_invalid bytime '{op: split, input: t, by_time: seg, cutoffs: {a: 1}}' \
  "bad.yaml:5:36: step 1 (split): by_time column 'seg' of table 't' is string, but must be a timestamp or a number"
check_invalid cutoff '{op: split, input: t, by_time: ts, cutoffs: {a: 2024}}' \
  "bad.yaml:5:53: step 1 (split): cutoff '2024' for timestamp column 'ts' must be a date"
check_invalid sum '{op: split, input: t, fractions: {a: 0.8, b: 0.8}}' \
  "bad.yaml:5:38: steps.0.fractions add up to 1.6"
check_invalid method '{op: rebalance_classes, input: t, label: label, method: undersampling, output: b}' \
  "bad.yaml:5:61: steps.0.method must be one of undersample, oversample, got 'undersampling'; did you mean 'undersample'?"
check_invalid collide '{op: split, input: t, fractions: {t: 0.5, b: 0.5}}' \
  "bad.yaml:5:39: step 1 (split) writes table 't', which input 't' already produces"
check_invalid fraction '{op: sample, input: t, fraction: 10, output: s}' \
  "bad.yaml:5:38: steps.0.fraction must be a fraction in (0, 1], got 10"

# Types known only from the data (CSV without schema): a cutoff that does not fit the inferred
# column type stops the run at 2 ranks with one located message, exit 2.
cat > inferred.yaml <<YAML
name: inferred
inputs:
  t: {format: csv, path: $TMP/t.csv}
steps:
  - {op: split, input: t, by_time: amount, cutoffs: {a: 0}, rest: b}
  - {op: split, input: t, by_time: id, cutoffs: {c: '2024-01-01'}}
YAML
expect_exit 0 60 inferred.validate 0 validate inferred.yaml
expect_exit 2 120 inferred.np2 2 run inferred.yaml --set "workdir=$TMP/inferred"
[ "$(count_lines "inferred.yaml:6:53: step 2 (split): cutoff '2024-01-01' for int64 column 'id' must be a number" "$TMP/inferred.np2.err")" = 1 ] \
  || { cat "$TMP/inferred.np2.err" >&2; fail "the cutoff type error is not reported exactly once"; }

pass "split, sample and rebalance_classes: identical at 1 and 2 ranks, exact, seeded, validated"
