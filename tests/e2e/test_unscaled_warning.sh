#!/usr/bin/env bash
# Training on unscaled features whose scales (root mean squares) differ more than 100-fold logs one
# warning (rank 0) naming the smallest- and largest-scale features and suggesting the scaling
# transform; the numbers are the same at 1 and 2 ranks. Features of similar scale, or scaled ones,
# get no warning.
source "$(dirname "$0")/lib.sh"
cd "$SRC"
BASE=(run jobs/quickstart.yaml --set train.optimizer.epochs=1 --set "train.transforms=[]")
WARNING="training on unscaled features of very different scales"

# x1 ~ N(0,1) beside the row id (up to 2e5): warned. A tiny learning rate keeps it from diverging.
for np in 0 2; do
  expect_exit 0 300 "id-np$np" "$np" "${BASE[@]}" --set "train.features.numeric=[x1, x2, id]" \
    --set train.optimizer.lr=1e-11 --set "workdir=$TMP/id-np$np"
  cat "$TMP/id-np$np.out" "$TMP/id-np$np.err" > "$TMP/id-np$np.log"
  [ "$(count_lines "$WARNING" "$TMP/id-np$np.log")" = 1 ] \
    || { cat "$TMP/id-np$np.log"; fail "np $np: expected the unscaled-features warning exactly once"; }
  grep -F "$WARNING" "$TMP/id-np$np.log" | grep -q "\[r0\] \[warning\]" || fail "np $np: the warning is not rank 0's"
  grep -F "$WARNING" "$TMP/id-np$np.log" | grep -q "'x2' has root mean square 1.001 and 'id' 1.155e+05, 1.15e+05 times more (above 100)" \
    || { grep -F "$WARNING" "$TMP/id-np$np.log"; fail "np $np: the warning does not name x2 (smallest) and id (largest) with their scales"; }
  grep -F "$WARNING" "$TMP/id-np$np.log" | grep -qF "Add transforms: [{scale: standard}] to the train section" \
    || fail "np $np: the warning does not suggest the scaling transform"
  grep -F "$WARNING" "$TMP/id-np$np.log" | sed 's/^\[[^]]*\] \[r[0-9]*\] //' > "$TMP/id-np$np.warning"
done
cmp -s "$TMP/id-np0.warning" "$TMP/id-np2.warning" || { cat "$TMP"/id-np*.warning; fail "the warning differs between 1 and 2 ranks"; }
pass "unscaled x2 beside id: one warning, identical at 1 and 2 ranks"

# The same features scaled, and unscaled features of similar scale (x1..x4: 1 to 5.8): no warning.
expect_exit 0 300 scaled 2 run jobs/quickstart.yaml --set train.optimizer.epochs=1 \
  --set "train.features.numeric=[x1, x2, id]" --set "workdir=$TMP/scaled"
expect_exit 0 300 similar 2 "${BASE[@]}" --set train.optimizer.lr=0.01 --set "workdir=$TMP/similar"
for name in scaled similar; do
  ! grep -qF "$WARNING" "$TMP/$name.out" "$TMP/$name.err" || fail "$name: unexpected unscaled-features warning"
done
pass "scaled features and unscaled features of similar scale: no warning"
