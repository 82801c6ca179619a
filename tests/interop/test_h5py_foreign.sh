#!/usr/bin/env bash
# A table written with h5py alone (a group of equal-length 1-D datasets, no shardflow attributes)
# is an HDF5 input: every supported dataset type (int16, uint32, int64, float32, float64, bool,
# fixed-length and variable-length UTF-8 strings) read at 1, 2 and 3 ranks (one rank empty) with
# the values h5py wrote, and the root group as table "/". Groups that are not tables (datasets of
# different lengths, uint64) are refused by validate naming the dataset.
set -euo pipefail

BIN="${SHARDFLOW_BIN:?set SHARDFLOW_BIN}"
MPIEXEC="${MPIEXEC:-mpiexec}"
PYTHON=/usr/bin/python3
if ! "$PYTHON" -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIP: $PYTHON lacks h5py (apt-get install python3-h5py)"
  exit 77
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PYTHON" - "$WORK" <<'PY'
import sys, h5py, numpy as np
work = sys.argv[1]
with h5py.File(f"{work}/f.h5", "w") as f:
    g = f.create_group("events")
    g["id"] = np.arange(5, dtype=np.int64) - 2
    g["small"] = np.array([-3, 0, 7, 300, -32768], dtype=np.int16)
    g["u32"] = np.array([0, 1, 4000000000, 5, 6], dtype=np.uint32)
    g["x"] = np.array([0.1, -2.5, 1e300, float("nan"), 3.0])
    g["x32"] = np.array([0.5, 1.25, -2.0, 0.0, 8.0], dtype=np.float32)
    g["flag"] = np.array([True, False, True, True, False])
    g["code"] = np.array([b"a", b"bb", b"", b"ccc", b"d"], dtype="S3")
    g.create_dataset("label", data=["x", "yy", "", "zé", "w,q"], dtype=h5py.string_dtype())
    f["root_a"] = np.arange(3)
    f["root_b"] = np.array([1.5, 2.5, 3.5])
    bad = f.create_group("ragged")
    bad["a"] = np.arange(3)
    bad["b"] = np.arange(4)
    f.create_group("unsigned")["a"] = np.arange(3, dtype=np.uint64)
PY
cat > "$WORK/job.yaml" <<YAML
name: foreign
workdir: $WORK/w
inputs:
  events: {format: hdf5, path: $WORK/f.h5}
  root: {format: hdf5, path: $WORK/f.h5, table: /}
steps:
  - {op: filter, input: events, where: "id > -100", output: e}
outputs:
  - {table: e, path: e.csv}
  - {table: root, path: r.csv}
YAML
"$BIN" validate "$WORK/job.yaml" > "$WORK/validate.out"
grep -q "table events from input 'events' (hdf5): code:string, flag:bool, id:int64, label:string, small:int32, u32:int64, x:float64, x32:float32" \
  "$WORK/validate.out" || fail "unexpected schema: $(cat "$WORK/validate.out")"
for np in 1 2 3; do
  "$MPIEXEC" -n "$np" --oversubscribe "$BIN" run "$WORK/job.yaml" --no-cache --set "workdir=$WORK/w$np" \
    > "$WORK/run$np.log" 2>&1 || { cat "$WORK/run$np.log"; fail "run at $np ranks"; }
done
"$PYTHON" - "$WORK" <<'PY' || fail "the values differ from what h5py wrote"
import csv, math, sys, h5py
work = sys.argv[1]
with h5py.File(f"{work}/f.h5") as f:
    g = f["events"]
    want = {k: list(g[k][()]) for k in g}
for np_ in (1, 2, 3):
    rows = list(csv.DictReader(open(f"{work}/w{np_}/outputs/e.csv", encoding="utf-8")))
    assert len(rows) == 5, (np_, len(rows))
    for i, r in enumerate(rows):
        for k in ("id", "small", "u32"):
            assert int(r[k]) == int(want[k][i]), (np_, k, i, r[k])
        for k in ("x", "x32"):
            a, b = float(r[k]), float(want[k][i])
            assert (math.isnan(a) and math.isnan(b)) or a == b, (np_, k, i, r[k])
        assert r["flag"] == ("true" if want["flag"][i] else "false"), (np_, i, r["flag"])
        assert r["code"] == want["code"][i].decode(), (np_, i, r["code"])
        label = want["label"][i]
        assert r["label"] == (label.decode() if isinstance(label, bytes) else label), (np_, i)
    root = list(csv.DictReader(open(f"{work}/w{np_}/outputs/r.csv")))
    assert [(int(r["root_a"]), float(r["root_b"])) for r in root] == [(0, 1.5), (1, 2.5), (2, 3.5)]
print("foreign HDF5 tables read exactly at 1, 2 and 3 ranks")
PY
for table in ragged unsigned; do
  sed "s|table: /|table: $table|" "$WORK/job.yaml" > "$WORK/$table.yaml"
  if "$BIN" validate "$WORK/$table.yaml" > "$WORK/$table.out" 2>&1; then fail "$table: validate passed"; fi
done
grep -q "group 'ragged' in '.*' cannot be read as a table: its datasets differ in length ('a' has 3 elements, 'b' has 4)" \
  "$WORK/ragged.out" || fail "ragged: $(cat "$WORK/ragged.out")"
grep -q "dataset 'a': 64-bit unsigned integers do not fit int64" "$WORK/unsigned.out" ||
  fail "unsigned: $(cat "$WORK/unsigned.out")"
echo "PASS: h5py-written groups are tables; non-tables are refused with the dataset named"
