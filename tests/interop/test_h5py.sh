#!/usr/bin/env bash
# A table written by shardflow (at 3 ranks, one of them empty) must be readable with h5py and
# pandas alone: values, nulls (<col>.valid), timestamps, dictionary and plain strings, attributes.
# The reading code is the README's snippet itself, taken from README.md and run as printed (only
# the file and table name are swapped for the sample's).
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

SRC="${SHARDFLOW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
"$PYTHON" - "$WORK/sample.h5" "$SRC/README.md" <<'PY'
import re
import sys
import numpy as np

path, readme = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
section = readme.split("## Reading outputs from Python", 1)[1]
snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
for old, new in [('"runs/quickstart/outputs/by_segment.h5"', "path"), ('f["by_segment"]', 'f["sample"]')]:
    if old not in snippet:
        print("FAIL: the README snippet no longer contains", old)
        sys.exit(1)
    snippet = snippet.replace(old, new)
snippet = snippet.replace("print(df)", "")
exec(snippet)  # defines f, g, cols, df

def check(cond, what):
    if not cond:
        print("FAIL:", what)
        print(df)
        sys.exit(1)

N = 3 + 0 + 5  # rows of ranks 0, 1 (empty), 2
check(int(g.attrs["complete"]) == 1, "complete flag")
check(int(g.attrs["format_version"]) == 2, "format_version")
check(int(g.attrs["num_rows"]) == N, "num_rows attribute")
check(g.attrs["fingerprint"] == b"interop", "fingerprint")
check(g.attrs["schema"] == b"id:int64,x:float64,n:int32,flag:bool,ts:timestamp,city:string,note:string,text:string", "schema")
check(cols == ["id", "x", "n", "flag", "ts", "city", "note", "text"], "column order")
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
texts = ["", 'a,b "q"\nnext', "\u00e9t\u00e9 \U0001F642 \u65e5\u672c", "x" * 3000]
check(list(df["text"]) == [texts[k % 4] for k in i], "empty, quoted, multi-line, UTF-8 and long strings")
check(g["note"].dtype == np.uint8 and g["text"].dtype == np.uint16, "lengths in the narrowest type")
text_bytes = sum(len(texts[k % 4].encode()) for k in i)
check(g["text.bytes"].shape == (text_bytes,), "text bytes unpadded")
for name in ["id", "x", "city", "city.dictionary", "city.dictionary.bytes", "note", "note.bytes", "x.valid"]:
    check(g[name].fletcher32 and g[name].chunks is not None, f"{name} chunked with fletcher32")
print(df.drop(columns="text").to_string())
print("OK: h5py/pandas read", N, "rows")
PY
