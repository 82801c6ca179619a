// Polars peer of benchmarks/groupby_comparisons.sh (same output as groupby_duckdb.mjs):
//   POLARS_MAX_THREADS=T node peers/groupby_polars.mjs FILE.csv [repeats]
// The questions as db-benchmark's polars/groupby-polars.py asks them (eager API; answers are
// materialized DataFrames), except q8: nodejs-polars has no top_k, so the largest two values are
// `sort(descending).head(2)` per group (the same values; null v3 dropped first as there).
import { emit, firstAndBest, parseArgs, peerThreads } from './common.mjs';
import { GROUPBY_QUESTIONS, emitPeakMemory, jsonNumber, polarsReadGroupby } from './groupby_common.mjs';

const { file, repeats } = parseArgs('peers/groupby_polars.mjs');
const threads = peerThreads();
// Polars sizes its thread pool from POLARS_MAX_THREADS when the native module is first used.
process.env.POLARS_MAX_THREADS = String(threads);
const { default: pl } = await import('nodejs-polars');

const t0 = process.hrtime.bigint();
const x = polarsReadGroupby(pl, file, threads);
emit({ bench: 'groupby_load', impl: 'polars', threads, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });

const c = pl.col;
const QUERY = {
  q1: () => x.groupBy('id1').agg(c('v1').sum()),
  q2: () => x.groupBy(['id1', 'id2']).agg(c('v1').sum()),
  q3: () => x.groupBy('id3').agg(c('v1').sum(), c('v3').mean()),
  q4: () => x.groupBy('id4').agg(c('v1').mean(), c('v2').mean(), c('v3').mean()),
  q5: () => x.groupBy('id6').agg(c('v1').sum(), c('v2').sum(), c('v3').sum()),
  q6: () => x.groupBy(['id4', 'id5']).agg(c('v3').median().alias('median_v3'), c('v3').std().alias('sd_v3')),
  q7: () => x.groupBy('id3').agg(c('v1').max().minus(c('v2').min()).alias('range_v1_v2')),
  q8: () => x.dropNulls('v3').groupBy('id6').agg(c('v3').sort({ descending: true }).head(2).alias('largest2_v3')).explode('largest2_v3'),
  q9: () => x.groupBy(['id2', 'id4']).agg(pl.pearsonCorr('v1', 'v2').pow(2).alias('r2')),
  q10: () => x.groupBy(['id1', 'id2', 'id3', 'id4', 'id5', 'id6']).agg(c('v3').sum(), pl.len().alias('count')),
};

for (const [q, , chkColumns] of GROUPBY_QUESTIONS) {
  let ans;
  const t = await firstAndBest(repeats, async () => {
    ans = null;
    ans = QUERY[q]();
  });
  const chk = Object.fromEntries(chkColumns.map((col) => [col, jsonNumber(ans.getColumn(col).sum())]));
  emit({ bench: `groupby_${q}`, impl: 'polars', threads, first: t.first, best: t.best, rows: ans.height, chk });
}
emitPeakMemory('polars', threads);
