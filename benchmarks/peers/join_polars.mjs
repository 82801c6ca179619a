// Polars peer of benchmarks/join_comparisons.sh (same output as join_duckdb.mjs):
//   POLARS_MAX_THREADS=T node peers/join_polars.mjs DIR [repeats]
import pl from 'nodejs-polars';
import { emit, peerThreads } from './common.mjs';
import { JOIN_QUESTIONS, JOIN_TABLES, firstAndBest, parseJoinArgs } from './join_common.mjs';

const { dir, repeats } = parseJoinArgs('peers/join_polars.mjs');
const threads = peerThreads();
const DTYPE = { string: pl.Utf8, int64: pl.Int64, float64: pl.Float64 };
const t0 = process.hrtime.bigint();
const frames = {};
for (const [table, columns] of Object.entries(JOIN_TABLES)) {
  frames[table] = pl.readCSV(`${dir}/${table}.csv`, { dtypes: Object.fromEntries(columns.map(([n, t]) => [n, DTYPE[t]])) });
}
emit({ bench: 'join_load', impl: 'polars', threads, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });

for (const [q, right, key, how] of JOIN_QUESTIONS) {
  let ans;
  const t = await firstAndBest(repeats, async () => {
    ans = frames.x.join(frames[right], { on: key, how, suffix: '_right' });
  });
  const v2 = ans.getColumn('v2');
  emit({ bench: `join_${q}`, impl: 'polars', threads, first: t.first, best: t.best, rows: ans.height, sum_v1: ans.getColumn('v1').sum(), sum_v2: v2.sum() });
}
