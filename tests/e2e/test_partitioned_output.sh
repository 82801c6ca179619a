#!/usr/bin/env bash
# Partitioned outputs through `shardflow run`: csv and hdf5 trees partitioned by int, string
# (hostile values: '..', '/', '%2F', NUL-free control bytes, unicode, empty, null), bool and
# timestamp columns are byte-identical at 1 and 2 ranks; every file lies inside its output
# directory, and the CSV tree decodes back (directory names + files) to exactly the filtered
# table, partition by partition, in input order; the hdf5 part files are readable as `format:
# hdf5` inputs; a rerun on other data leaves no stale partition; a fault on one rank or a full
# disk fails every rank with one message naming the rank and the path and leaves no tree;
# `format: partitioned` reads the trees back (round trip equal, at 1 and 2 ranks);
# `validate` rejects bad partition_by with file:line:column.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
$PY - <<'PY'
import random
random.seed(5)
segs = ["a", "..", "../../etc", "/abs", "a/b", "%2F", "x y", "\u00e9\u65e5", "", "__HIVE_DEFAULT_PARTITION__", "tab\there", "k=v:w"]
def write(path, n):
    with open(path, "w") as f:
        f.write("id,year,month,seg,amount,ts,flag\n")
        for i in range(n):
            year = random.choice(["2023", "2024", ""])
            seg = random.choice(segs + [None])
            seg = "" if seg is None else '"' + seg + '"'   # unquoted empty = null, "" = empty
            f.write(f"{i},{year},{random.randint(1, 12)},{seg},{random.uniform(-1, 10):.2f},"
                    f"2024-0{random.randint(1, 3)}-01 0{random.randint(0, 1)}:30:00,"
                    f"{random.choice(['true', 'false'])}\n")
write("t.csv", 1500)
write("t2.csv", 300)
PY
job() {  # job FILE INPUT_CSV
  cat > "$1" <<YAML
name: partout
inputs:
  t: {format: csv, path: $TMP/$2, schema: {id: int64, year: int64, month: int32, seg: string, amount: float64, ts: timestamp, flag: bool}}
steps:
  - {op: filter, input: t, where: "amount > 0", output: f}
outputs:
  - {table: f, path: by_ym/, format: csv, partition_by: [year, month]}
  - {table: f, path: by_seg/, format: csv, partition_by: [seg]}
  - {table: t, path: h5/, format: hdf5, partition_by: [flag, ts]}
  - {table: f, path: f.csv}
  - {table: t, path: t.csv}
runtime: {shuffle_round_bytes: 2048, max_dictionary_size: 4}
YAML
}
job job.yaml t.csv
expect_exit 0 60 validate 0 validate job.yaml
expect_exit 0 120 np1 0 run job.yaml --set "workdir=$TMP/w1"
expect_exit 0 120 np2 2 run job.yaml --set "workdir=$TMP/w2"
diff -r "$TMP/w1/outputs" "$TMP/w2/outputs" >/dev/null || fail "partition trees differ between 1 and 2 ranks"
pass "trees byte-identical at 1 and 2 ranks"

$PY - "$TMP/t.csv" "$TMP/w1/outputs" <<'PY' || fail "content check"
import csv, os, re, sys
src, out = sys.argv[1], sys.argv[2]
with open(src, newline="") as f:
    lines = f.read().split("\n")[1:-1]
rows = list(csv.reader(lines))
def field_is_null(line, k):  # unquoted empty field = null (string columns), "" = empty string
    return next(csv.reader([line], quoting=csv.QUOTE_NONE))[k] == ""
kept = [(r, l) for r, l in zip(rows, lines) if float(r[4]) > 0]
def unescape(s):
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), s.encode()).decode()
def decode(name):
    col, _, val = name.partition("=")
    return unescape(col), (None if val == "__HIVE_DEFAULT_PARTITION__" else unescape(val))
root = os.path.realpath(out)
for dirpath, dirs, files in os.walk(out):
    for name in files:
        if os.path.realpath(dirpath) == root: continue  # f.csv, t.csv
        real = os.path.realpath(os.path.join(dirpath, name))
        assert real.startswith(root + os.sep), real
        assert name == "part-00000." + ("h5" if "/h5/" in real else "csv"), real
    for name in dirs:
        assert "=" in name or os.path.relpath(os.path.join(dirpath, name), out) in ("by_ym", "by_seg", "h5"), name
        assert all(0x20 <= ord(c) < 0x7f for c in name), name
def check(tree, cols, idx, header):
    got = {}
    for dirpath, dirs, files in os.walk(os.path.join(out, tree)):
        if not files: continue
        parts = os.path.relpath(dirpath, os.path.join(out, tree)).split(os.sep)
        key = tuple(decode(p) for p in parts)
        assert [k[0] for k in key] == cols, key
        with open(os.path.join(dirpath, files[0]), newline="") as f:
            text = f.read().split("\n")
        assert text[0] == header, text[0]
        got[tuple(k[1] for k in key)] = [next(csv.reader([l])) for l in text[1:-1]]
    want = {}
    for r, line in kept:
        key = []
        for c in idx:
            if c == 3:
                key.append(None if field_is_null(line, 3) else r[3])
            else:
                key.append(r[c] if r[c] != "" else None)
        rest = [r[k] for k in range(7) if k not in idx]
        want.setdefault(tuple(key), []).append(rest)
    assert set(got) == set(want), (sorted(map(str, got)), sorted(map(str, want)))
    for k in want:
        g = [[x for x in row] for row in got[k]]
        w = want[k]
        assert len(g) == len(w), k
        for a, b in zip(g, w):
            # numbers as the writer formats them
            assert int(a[0]) == int(b[0]), (k, a, b)
            assert [float(x) for x in a if re.fullmatch(r"-?\d+\.\d+", x)] == [float(x) for x in b if re.fullmatch(r"-?\d+\.\d+", x)], (k, a, b)
    return len(want)
n1 = check("by_ym", ["year", "month"], [1, 2], "id,seg,amount,ts,flag")
n2 = check("by_seg", ["seg"], [3], "id,year,month,amount,ts,flag")
assert n2 == 13, n2  # 12 values (the empty string one of them) and null, apart
print("partitions", n1, n2)
PY
pass "csv trees decode back to the filtered table, in input order; no path escapes"

# An hdf5 part file is a normal table file for `format: hdf5` inputs.
part="$(find "$TMP/w1/outputs/h5" -name part-00000.h5 | head -1)"
cat > read.yaml <<YAML
name: readpart
inputs:
  p: {format: hdf5, path: "$part", table: t}
outputs:
  - {table: p, path: p.csv}
YAML
expect_exit 0 60 readpart 0 run read.yaml --set "workdir=$TMP/wr"
head -1 "$TMP/wr/outputs/p.csv" | grep -qx "id,year,month,seg,amount" || fail "hdf5 part file columns"
pass "hdf5 part file readable as an input"

# Round trip: `format: partitioned` reads each tree back with the partition columns restored
# (types from schema:, else int64 when every value parses, else string), the same at 1 and 2 ranks.
cat > back.yaml <<YAML
name: back
inputs:
  ym: {format: partitioned, path: $TMP/w1/outputs/by_ym/, files: csv, schema: {month: int32}}
  sg: {format: partitioned, path: $TMP/w1/outputs/by_seg, files: csv}
  h5: {format: partitioned, path: $TMP/w1/outputs/h5/, files: hdf5, table: t, schema: {flag: bool, ts: timestamp}}
outputs:
  - {table: ym, path: ym.csv}
  - {table: sg, path: sg.csv}
  - {table: h5, path: h5.csv}
YAML
expect_exit 0 60 back-validate 0 validate back.yaml
grep -q "table h5 from input 'h5' (partitioned): id:int64, year:int64, month:int32, seg:string, amount:float64, flag:bool, ts:timestamp" "$TMP/back-validate.out" \
  || { cat "$TMP/back-validate.out"; fail "validate shape of a partitioned input"; }
expect_exit 0 120 back1 0 run back.yaml --set "workdir=$TMP/b1"
expect_exit 0 120 back2 2 run back.yaml --set "workdir=$TMP/b2"
diff -r "$TMP/b1/outputs" "$TMP/b2/outputs" >/dev/null || fail "read back differs between 1 and 2 ranks"
$PY - "$TMP/w1/outputs" "$TMP/b1/outputs" <<'PY' || fail "round trip"
import collections, sys
def rows(path):  # raw fields: "" (empty string) and nothing (null) stay apart; no field has a comma
    lines = open(path, newline="").read().split("\n")[:-1]
    head = lines[0].split(",")
    return head, collections.Counter(tuple(sorted(zip(head, l.split(",")))) for l in lines[1:])
_, f = rows(sys.argv[1] + "/f.csv")
_, t = rows(sys.argv[1] + "/t.csv")
for name, want, cols in (("ym", f, "id,seg,amount,ts,flag,year,month"),
                         ("sg", f, "id,year,month,amount,ts,flag,seg"),
                         ("h5", t, "id,year,month,seg,amount,flag,ts")):
    head, got = rows(f"{sys.argv[2]}/{name}.csv")
    assert ",".join(head) == cols, (name, head)
    assert got == want, (name, sum(got.values()), sum(want.values()), list((got - want).items())[:3], list((want - got).items())[:3])
print("round trips", sum(f.values()), sum(t.values()))
PY
pass "round trip write -> read gives back the same tables"

# A rerun on other data leaves no stale partition (equal to a fresh run's tree).
job job2.yaml t2.csv
expect_exit 0 120 rerun 2 run job2.yaml --set "workdir=$TMP/w1"
expect_exit 0 120 fresh 0 run job2.yaml --set "workdir=$TMP/w3"
diff -r "$TMP/w1/outputs" "$TMP/w3/outputs" >/dev/null || fail "a rerun left stale partitions"
pass "rerun replaces the trees"

# A fault on one rank while writing partitions: every rank stops with one message, no tree.
SHARDFLOW_INJECT_FAULT="partition_write:f@1" expect_exit 1 60 fault 2 run job.yaml --set "workdir=$TMP/w4"
grep -q "rank 1: injected fault at 'partition_write:f'" "$TMP/fault.err" || { cat "$TMP/fault.err"; fail "fault message"; }
[ ! -e "$TMP/w4/outputs/by_ym" ] && [ ! -e "$TMP/w4/outputs/by_ym.tmp" ] || fail "a failed write left a tree"
pass "fault on one rank: clean agreed failure"

# A full disk (root only: a tiny tmpfs): the message names the rank and the file; nothing left.
if [ "$(id -u)" = 0 ] && mkdir -p "$TMP/small" && mount -t tmpfs -o size=64k tmpfs "$TMP/small" 2>/dev/null; then
  trap 'umount "$TMP/small" 2>/dev/null || true; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT
  cat > full.yaml <<YAML
name: full
inputs:
  t: {format: csv, path: $TMP/t.csv}
outputs:
  - {table: t, path: $TMP/small/ev/, format: csv, partition_by: [seg], allow_outside_workdir: true}
YAML
  $PY -c "
import random
with open('$TMP/big.csv', 'w') as f:
    f.write('seg,v\n')
    for i in range(40000): f.write(f'{i % 3},{random.random()}\n')
"
  sed -i "s#$TMP/t.csv#$TMP/big.csv#" full.yaml
  expect_exit 1 60 full 2 run full.yaml --set "workdir=$TMP/w5"
  grep -q "rank [01]: cannot write partition file '$TMP/small/ev.tmp/seg=[0-9]/part-00000.csv'" "$TMP/full.err" \
    && grep -qi "no space left" "$TMP/full.err" || { cat "$TMP/full.err"; fail "full disk message"; }
  [ -z "$(ls -A "$TMP/small")" ] || { ls -R "$TMP/small"; fail "a full disk left files"; }
  umount "$TMP/small"
  pass "full disk: agreed failure naming rank and path, nothing left"
else
  echo "skip: full disk part (needs root and mount)"
fi

# validate: file:line:column for a bad column, a file path.
sed 's/partition_by: \[seg\]/partition_by: [sgement]/' job.yaml > bad1.yaml
expect_exit 2 60 bad1 0 validate bad1.yaml
grep -q "bad1.yaml:8:59: output 2: partition_by column 'sgement' is not a column of table 'f' (columns: id, year" "$TMP/bad1.err" \
  || { cat "$TMP/bad1.err"; fail "bad column message"; }
sed 's#path: by_seg/#path: by_seg.h5#' job.yaml > bad2.yaml
expect_exit 2 60 bad2 0 validate bad2.yaml
grep -q "bad2.yaml:8:22: outputs.1.path 'by_seg.h5' names a file" "$TMP/bad2.err" \
  || { cat "$TMP/bad2.err"; fail "file path message"; }
sed 's/schema: {month: int32}/schema: {mnth: int32}/' back.yaml > bad3.yaml
expect_exit 2 60 bad3 0 validate bad3.yaml
grep -q "bad3.yaml:3:.*input 'ym': schema column 'mnth' is not a partition column of '$TMP/w1/outputs/by_ym/'; did you mean 'month'?" "$TMP/bad3.err" \
  || { cat "$TMP/bad3.err"; fail "partitioned input schema message"; }
sed "s#$TMP/w1/outputs/by_seg#$TMP/nowhere#" back.yaml > bad4.yaml
expect_exit 3 60 bad4 0 validate bad4.yaml
grep -q "bad4.yaml:4:.*partitioned input directory '$TMP/nowhere' does not exist" "$TMP/bad4.err" \
  || { cat "$TMP/bad4.err"; fail "missing partitioned input message"; }
pass "validate errors"
echo "7 passed, 0 failed"
