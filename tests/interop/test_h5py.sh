#!/usr/bin/env bash
# A table written by shardflow (at 3 ranks, one of them empty) must be readable with h5py and
# pandas alone: values, nulls (<col>.valid), timestamps, dictionary and plain strings, attributes.
# This is also the snippet the README shows.
set -euo pipefail

BUILD_DIR="${SHARDFLOW_BUILD_DIR:?set SHARDFLOW_BUILD_DIR}"
MPIEXEC="${MPIEXEC:-mpiexec}"
WRITER="$BUILD_DIR/tests/interop_write_sample"
PYTHON=/usr/bin/python3

if [[ ! -x "$WRITER" ]]; then
  echo "SKIP: $WRITER is not built (run: ninja -C $BUILD_DIR interop_write_sample)"
  exit 77
fi
if ! "$PYTHON" -c 'import h5py, pandas' 2>/dev/null; then
  echo "SKIP: $PYTHON lacks h5py or pandas (apt-get install python3-h5py python3-pandas)"
  exit 77
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$MPIEXEC" -n 3 --oversubscribe "$WRITER" "$WORK/sample.h5"

"$PYTHON" - "$WORK/sample.h5" <<'PY'
import sys
import h5py
import numpy as np
import pandas as pd

path = sys.argv[1]
# --- README snippet begins ---
f = h5py.File(path, "r")
g = f["sample"]
cols = [c.decode() for c in g.attrs["columns"]]
df = pd.DataFrame({c: g[c][:] for c in cols})
for c in cols:
    enc = g[c].attrs.get("encoding", b"")
    if enc == b"dictionary":
        df[c] = pd.Categorical.from_codes(df[c], [s.decode() for s in g[c + ".dictionary"][:]])
    elif enc == b"plain":
        df[c] = df[c].str.decode("utf-8")
    if g[c].attrs.get("logical_type") == b"timestamp":
        df[c] = pd.to_datetime(df[c], unit="us", utc=True)
    if c + ".valid" in g:
        df[c] = df[c].where(g[c + ".valid"][:].astype(bool))
# --- README snippet ends ---

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        print(df)
        sys.exit(1)

N = 3 + 0 + 5  # rows of ranks 0, 1 (empty), 2
check(int(g.attrs["complete"]) == 1, "complete flag")
check(int(g.attrs["format_version"]) == 1, "format_version")
check(int(g.attrs["num_rows"]) == N, "num_rows attribute")
check(g.attrs["fingerprint"] == b"interop", "fingerprint")
check(g.attrs["schema"] == b"id:int64,x:float64,n:int32,flag:bool,ts:timestamp,city:string,note:string", "schema")
check(cols == ["id", "x", "n", "flag", "ts", "city", "note"], "column order")
check(len(df) == N, "row count")
i = np.arange(N)
check((df["id"].to_numpy() == i).all() and g["id"].dtype == np.int64, "id")
check(g["x"].dtype == np.float64 and g["n"].dtype == np.int32 and g["flag"].dtype == np.uint8, "dtypes")
check(df["x"].isna().to_numpy().tolist() == (i % 4 == 3).tolist(), "x nulls")
check(np.allclose(df["x"].dropna().to_numpy(), (i * 0.5)[i % 4 != 3]), "x values")
check((df["n"].to_numpy() == 1000 - i).all(), "n")
check((df["flag"].to_numpy() == i % 2).all(), "flag")
check(g["ts"].attrs["unit"] == b"us", "timestamp unit")
check(df["ts"].iloc[1] == pd.Timestamp(1_700_000_001, unit="s", tz="UTC"), "timestamp value")
check(list(df["city"].astype(str)) == [["Berlin", "Paris", "Tokyo"][k % 3] for k in i], "dictionary strings")
check(list(df["note"]) == [f"row-{k}" * (k % 3 + 1) for k in i], "plain strings")
for name in ["id", "x", "city", "city.dictionary", "note", "x.valid"]:
    check(g[name].fletcher32 and g[name].chunks is not None, f"{name} chunked with fletcher32")
print(df.to_string())
print("OK: h5py/pandas read", N, "rows")
PY
