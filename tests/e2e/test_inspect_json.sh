#!/usr/bin/env bash
# `shardflow inspect --json` escapes everything JSON requires: a table whose column names hold
# quotes, backslashes, a tab, a newline and other control characters, in a file whose name holds a
# quote, a backslash and a tab, must give output that Python's json module (strict: it rejects raw
# control characters) parses, with the names round-tripped exactly. A name that is not UTF-8 comes
# out with U+FFFD in place of the bad byte instead of failing.
source "$(dirname "$0")/lib.sh"

# Header: one quoted name with "" (a quote), \, TAB, 0x01, 0x1f and a newline; one plain name; one
# with the invalid UTF-8 byte 0xff.
printf '"a ""q"" \\b\\s\ttab\001ctl\037\nnl",id,bad\377byte\nx,1,u\ny,2,v\n' >"$TMP/in.csv"
cat >"$TMP/job.yaml" <<EOF
name: inspect_json
workdir: $TMP/run
inputs:
  t: {format: csv, path: $TMP/in.csv}
outputs:
  - {table: t, path: t.h5}
EOF
expect_exit 0 120 run 0 run "$TMP/job.yaml"

weird="$TMP/we\"ird\\name"$'\t'"tab.h5"
mv "$TMP/run/outputs/t.h5" "$weird"
expect_exit 0 30 inspect 0 inspect "$weird" --json
$PY - "$TMP/inspect.out" "$weird" <<'EOF' || fail "inspect --json output is not the expected JSON"
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
doc = json.loads(text)  # strict: raw control characters inside strings are rejected
assert doc["kind"] == "tables", doc
assert doc["file"] == sys.argv[2], (doc["file"], sys.argv[2])
(table,) = doc["tables"]
assert table["name"] == "t" and table["rows"] == 2 and table["complete"] is True, table
names = [c["name"] for c in table["columns"]]
expected = ['a "q" \\b\\s\ttab\x01ctl\x1f\nnl', "id", "bad\ufffdbyte"]
assert names == expected, (names, expected)
assert [c["type"] for c in table["columns"]] == ["string", "int64", "string"], table
assert text.count("\n") == 1 and text.endswith("\n"), "one document on one line"
EOF
pass "inspect --json"
