#!/usr/bin/env bash
# Float sums and means under cancellation (issue 7): a group-by job over adversarial groups --
# {1e-20, 1e30, 1, -1, -1e30} (once 0.0 at 1, 2, 4 ranks and 1e-20 at 3), pairs x, -x of any
# magnitude with small rests, groups over the whole exponent range with subnormals and signed
# zeros -- run as one process and at 2, 3 and 4 ranks, on the rows in two different orders.
# Every run must give the correctly rounded sum (math.fsum) and mean (the exact Fraction sum over
# the count, rounded once), so all runs are identical byte for byte.
source "$(dirname "$0")/lib.sh"
$PY - "$TMP" <<'PY'
import math, random, struct, sys
tmp = sys.argv[1]
rng = random.Random(7)
def any_double():
    bits = rng.getrandbits(52) | (rng.randrange(2047) << 52) | (rng.getrandbits(1) << 63)
    return struct.unpack("<d", struct.pack("<Q", bits))[0]
groups = [[1e-20, 1e30, 1.0, -1.0, -1e30], [-0.0, -0.0], [-0.2, 1e300, 0.0, -1e300]]
for g in range(50):
    v = []
    for _ in range(1 + rng.randrange(8)):
        x = any_double()
        v += [x, -x if g % 2 else -math.nextafter(x, 0.0)]
    v += [rng.uniform(-1, 1) * 2.0 ** rng.randrange(-100, 20) for _ in range(rng.randrange(5))]
    groups.append(v)
for g in range(30):
    groups.append([(-0.0 if k % 2 else 0.0) if k % 7 == 3 else any_double()
                   for k in range(1 + rng.randrange(40))])
rows = [(g, x) for g, v in enumerate(groups) for x in v]
for name, seed in (("a", 1), ("b", 2)):
    random.Random(seed).shuffle(rows)
    with open(f"{tmp}/{name}.csv", "w") as f:
        f.write("g,v\n")
        for g, x in rows:
            f.write(f"{g},{x!r}\n")
with open(f"{tmp}/groups.txt", "w") as f:
    for v in groups:
        f.write(" ".join(x.hex() for x in v) + "\n")
PY
for order in a b; do
  cat > "$TMP/$order.yaml" <<YAML
name: exact_sums_$order
workdir: $TMP/w_$order
inputs:
  t: {format: csv, path: $TMP/$order.csv, schema: {g: int64, v: float64}}
steps:
  - {op: group_by, input: t, keys: [g], aggs: {v: [sum, mean], "*": [count]}, output: sums}
outputs:
  - {table: sums, path: sums.csv}
YAML
done
runs=()
for run in a.0 a.2 a.3 a.4 b.0 b.3; do
  order=${run%.*} np=${run#*.}
  expect_exit 0 120 "sums.$run" "$np" run "$TMP/$order.yaml" --no-cache --set "workdir=$TMP/w$run"
  sort "$TMP/w$run/outputs/sums.csv" > "$TMP/sums.$run"
  runs+=("$TMP/sums.$run")
done
$PY - "$TMP/groups.txt" "${runs[@]}" <<'PY' || fail "float sums are not correctly rounded"
import math, sys
from fractions import Fraction
groups = [[float.fromhex(t) for t in line.split()] for line in open(sys.argv[1])]
def rounded(v, divisor):
    if all(x == 0 and math.copysign(1, x) < 0 for x in v):
        return -0.0
    s = sum(Fraction(x) for x in v)
    try:
        return float(s / divisor) if s != 0 else 0.0  # int / int: correctly rounded
    except OverflowError:  # beyond the double range: +-inf, as IEEE rounds
        return math.copysign(math.inf, s)
bad = 0
for path in sys.argv[2:]:
    seen = set()
    for line in open(path):
        if line.startswith("g,"):
            continue
        g, total, mean, count = line.strip().split(",")
        g = int(g)
        seen.add(g)
        v = groups[g]
        want_sum, want_mean = rounded(v, 1), rounded(v, len(v))
        try:  # math.fsum is correctly rounded too: a cross-check of the reference
            assert math.fsum(v) == want_sum
        except OverflowError:
            assert math.isinf(want_sum)
        for what, got, want in (("sum", total, want_sum), ("mean", mean, want_mean)):
            if float(got).hex() != want.hex():
                bad += 1
                print(f"{path}: {what} of group {g}: got {got}, want {want!r} ({v})")
        if int(count) != len(v):
            bad += 1
            print(f"{path}: count of group {g}: {count}")
    if seen != set(range(len(groups))):
        bad += 1
        print(f"{path}: groups {sorted(set(range(len(groups))) - seen)} missing")
print(f"{len(sys.argv) - 2} runs x {len(groups)} groups checked, {bad} wrong")
sys.exit(1 if bad else 0)
PY
for r in "${runs[@]:1}"; do
  cmp "${runs[0]}" "$r" || fail "$(basename "$r") differs from $(basename "${runs[0]}")"
done
pass "float sums and means correctly rounded and identical at 1-4 ranks and in two row orders"
