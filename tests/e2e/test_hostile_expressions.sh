#!/usr/bin/env bash
# Filter expressions past the documented depth limit (ops::kMaxExpressionDepth = 1000) are refused
# by `validate` and by `run` alike: exit 2, one message with the job file's location, no crash.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
for kind in or not minus parens; do
  where=$($PY - "$kind" <<'PY'
import sys
kind = sys.argv[1]
if kind == "or":
    print(" or ".join(f"id = {k}" for k in range(20000)))
elif kind == "not":
    print("not " * 50000 + "amount > 0")
elif kind == "minus":
    print("-" * 50000 + "amount > 0")
else:
    print("(" * 100000 + "amount > 0" + ")" * 100000)
PY
)
  printf 'name: deep\nworkdir: %s/w\ninputs:\n  events: {format: generate, kind: classification, rows: 100}\nsteps:\n  - op: filter\n    input: events\n    output: kept\n    where: "%s"\n' "$TMP" "$where" > "$TMP/$kind.yaml"
  expect_exit 2 60 "validate-$kind" 0 validate "$TMP/$kind.yaml"
  expect_exit 2 60 "run-$kind" 2 run "$TMP/$kind.yaml"
  for phase in validate run; do
    grep -q "$kind.yaml:9:12: step 1 (filter): expression '.*\.\.\.': the expression nests more than 1000 levels deep" \
      "$TMP/$phase-$kind.err" || { head -c 600 "$TMP/$phase-$kind.err"; fail "$phase $kind: message"; }
    [ "$(wc -c < "$TMP/$phase-$kind.err")" -lt 2000 ] || fail "$phase $kind: the message quotes the whole expression"
  done
  [ "$(count_lines "nests more than" "$TMP/run-$kind.err")" = 1 ] || fail "run $kind: reported more than once"
  pass "$kind: validate and run refuse it with exit 2"
done
echo "1 passed, 0 failed"
