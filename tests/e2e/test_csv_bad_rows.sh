#!/usr/bin/env bash
# Hostile CSV rows cost exactly their own rows, at every rank count (issue 7):
#   - an unclosed quote under bad_rows: skip once swallowed 170 of 200 rows with exit 0; now the
#     line where the quote opened is the bad row and every other row is kept;
#   - invalid UTF-8 and NUL bytes were accepted (or failed only when the output was written);
#     now they are bad rows at parse time: exit 3 with file:line:column, or skipped/quarantined.
# The same job runs at 1, 2 and 3 ranks with skip, quarantine and fail; kept rows, the
# quarantine file and the summary counts must be the expected ones each time.
source "$(dirname "$0")/lib.sh"
# 200 data rows; rows 30 and 59 open quotes that never close: the next quote after each is on a
# later line and followed by text (row 60's "Bob" would close row 59's "Alice); row 190 opens a
# quote that runs to the end of the file; row 90 holds invalid UTF-8 (an overlong '/'), row 120
# a NUL byte, row 150 a surrogate, row 170 a truncated sequence; rows 100-101 hold a valid
# quoted field with a newline and valid UTF-8 (kept).
$PY - "$TMP/in.csv" <<'PYEOF'
import sys
rows = [b"id,name,x"]
for i in range(200):
    name = b"n%d" % i
    if i == 30: name = b'"never closed'
    if i == 59: name = b'"Alice'
    if i == 60: name = b'"Bob"'
    if i == 90: name = b"bad\xc0\xafslash"
    if i == 100: name = b'"two\nlines \xc3\xa9"'
    if i == 120: name = b"nul\x00byte"
    if i == 150: name = b"sur\xed\xa0\x80"
    if i == 170: name = b"cut\xe2\x82"
    if i == 190: name = b'"to the end'  
    rows.append(b"%d,%s,%d" % (i, name, i * 10))
open(sys.argv[1], "wb").write(b"\n".join(rows) + b"\n")
PYEOF
job() {
  cat > "$TMP/job.yaml" <<YAML
name: badrows
workdir: $TMP/w$1
inputs:
  t: {format: csv, path: $TMP/in.csv, schema: {id: int64, name: string, x: int64}, bad_rows: $2}
steps:
  - {op: filter, input: t, where: "x >= 0", output: kept}
outputs:
  - {table: kept, path: kept.csv}
YAML
}
# The bad rows: data row i is on line i + 2, except after row 100 (two lines): i + 3.
expected_ids() { seq 0 199 | grep -vxE '30|59|90|120|150|170|190'; }
for np in 1 2 3; do
  for policy in skip quarantine; do
    job "$np$policy" "$policy"
    expect_exit 0 120 "$policy$np" "$np" run "$TMP/job.yaml" --no-cache
    out="$TMP/w$np$policy/outputs/kept.csv"
    cut -d, -f1 "$out" | tail -n +2 | grep -E '^[0-9]+$' | sort -n > "$TMP/ids"
    expected_ids | cmp - "$TMP/ids" || { diff <(expected_ids) "$TMP/ids" | head; fail "$policy at $np rank(s): kept rows"; }
    grep -qE "(skipped 7 bad CSV row\(s\) in total|quarantined 7 bad CSV row\(s\)), 7 line\(s\)" "$TMP/$policy$np.err" \
      || { cat "$TMP/$policy$np.err"; fail "$policy at $np rank(s): summary counts"; }
    # The kept output decodes as UTF-8, with the valid multi-line value intact.
    $PY -c 'import sys; t = open(sys.argv[1], "rb").read().decode("utf-8"); assert "two\nlines \u00e9" in t' "$out" \
      || fail "$policy at $np rank(s): output is not UTF-8 or lost the quoted newline"
  done
  q="$TMP/w${np}quarantine/rejects/t.csv"
  $PY - "$q" "$TMP/in.csv" <<'PYEOF' || fail "quarantine file at $np rank(s)"
import csv, io, sys
rows = list(csv.reader(io.StringIO(open(sys.argv[1], "rb").read().decode("utf-8", "surrogateescape"), newline="")))
assert rows[0] == ["file", "line", "reason", "raw"], rows[0]
got = [(int(r[1]), r[2].split(":")[0] if r[2].startswith("column") else r[2][:40], r[3]) for r in rows[1:]]
want_lines = [32, 61, 92, 123, 153, 173, 193]
assert [g[0] for g in got] == want_lines, got
raws = [g[2] for g in got]
want_raw = ['30,"never closed,300', '59,"Alice,590', '90,bad\udcc0\udcafslash,900',
            '120,nul\x00byte,1200', '150,sur\udced\udca0\udc80,1500', '170,cut\udce2\udc82,1700',
            '190,"to the end,1900']
assert raws == want_raw, raws
reasons = [r[2] for r in rows[1:]]
assert reasons[0].startswith("a quoted field opens here but is not closed on this line"), reasons[0]
assert reasons[1].startswith("a quoted field opens here but is not closed on this line"), reasons[1]
assert reasons[6] == "a quoted field opens here but is not closed before the end of the file or within max_field_bytes (1048576 bytes)", reasons[6]
assert reasons[2] == "column 2 'name': invalid UTF-8 (byte 0xC0)", reasons[2]
assert reasons[3] == "column 2 'name': a NUL byte", reasons[3]
PYEOF
  # fail (the default): exit 3 naming the file, the line and the column of the first bad row.
  job "${np}fail" fail
  expect_exit 3 120 "fail$np" "$np" run "$TMP/job.yaml" --no-cache
  grep -q "in.csv:32:4: a quoted field opens here but is not closed on this line, and the next quote (on a later line) is not followed by a delimiter or a line end" "$TMP/fail$np.err" \
    || { cat "$TMP/fail$np.err"; fail "fail at $np rank(s): message"; }
  [ "$(count_lines "in.csv:32:4" "$TMP/fail$np.err")" = 1 ] || fail "fail at $np rank(s): reported more than once"
done
pass "unclosed quotes, invalid UTF-8 and NUL: skip/quarantine drop exactly their rows, fail names line:column, at 1-3 ranks"
# Invalid UTF-8 alone under fail: exit 3 with line and column of the byte.
printf 'id,name\n1,ok\n2,ab\xff\n' > "$TMP/utf.csv"
cat > "$TMP/utf.yaml" <<YAML
name: utf
workdir: $TMP/wu
inputs:
  t: {format: csv, path: $TMP/utf.csv}
steps:
  - {op: filter, input: t, where: "id > 0", output: kept}
outputs:
  - {table: kept, path: kept.csv}
YAML
expect_exit 3 60 utf 2 run "$TMP/utf.yaml"
grep -q "utf.csv:3:5: column 2 'name': invalid UTF-8 (byte 0xFF)" "$TMP/utf.err" || { cat "$TMP/utf.err"; fail "invalid UTF-8 message"; }
pass "invalid UTF-8 under bad_rows: fail is exit 3 with file:line:column"
# max_field_bytes from the job file: a quoted field longer than it counts as unclosed and costs
# its line; the next line is kept.
printf 'a,b\n1,"0123456789"\n2,x\n3,"01234567"\n' > "$TMP/mf.csv"
cat > "$TMP/mf.yaml" <<YAML
name: mf
workdir: $TMP/wm
inputs:
  t: {format: csv, path: $TMP/mf.csv, max_field_bytes: 8, bad_rows: skip}
steps:
  - {op: filter, input: t, where: "a > 0", output: kept}
outputs:
  - {table: kept, path: kept.csv}
YAML
expect_exit 0 60 mf 2 run "$TMP/mf.yaml"
printf 'a,b\n2,x\n3,01234567\n' | cmp - "$TMP/wm/outputs/kept.csv" || { cat "$TMP/wm/outputs/kept.csv"; fail "max_field_bytes: kept rows"; }
grep -q "mf.csv:2:3: a quoted field opens here but is not closed before the end of the file or within max_field_bytes (8 bytes)" "$TMP/mf.err" \
  || { cat "$TMP/mf.err"; fail "max_field_bytes message"; }
pass "max_field_bytes bounds a quoted field; the row past it costs its line"
echo "3 passed, 0 failed"
