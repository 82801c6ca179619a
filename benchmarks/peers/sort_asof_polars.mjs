// Polars peer of benchmarks/sort_asof_comparisons.sh (same arguments and output as
// sort_asof_duckdb.mjs). join_asof needs both sides sorted by time: that sort is timed with it.
import fs from 'node:fs';
import pl from 'nodejs-polars';
import { emit, peerThreads } from './common.mjs';
import { firstAndBest } from './join_common.mjs';

const [xFile, leftFile, rightFile, repeatsArg = '3'] = process.argv.slice(2);
for (const f of [xFile, leftFile, rightFile]) {
  if (!f || !fs.existsSync(f)) {
    console.error(`peers/sort_asof_polars.mjs: error: '${f ?? ''}' does not exist`);
    process.exit(2);
  }
}
const repeats = Number(repeatsArg);
const threads = peerThreads();
const x = pl.readCSV(xFile, { dtypes: { id1: pl.Int64, id2: pl.Int64, id3: pl.Int64, id4: pl.Utf8, id5: pl.Utf8, id6: pl.Utf8, v1: pl.Float64 } });
const x2 = x.select('id1', 'v1');
const readEvents = (f) => pl.readCSV(f, { dtypes: { event_id: pl.Int64, user_id: pl.Int64, ts: pl.Utf8, f1: pl.Float64, f2: pl.Float64, f3: pl.Float64 } })
  .withColumns(pl.col('ts').str.strptime(pl.Datetime('ms'), '%Y-%m-%d %H:%M:%S'));
const l = readEvents(leftFile).select('event_id', 'user_id', 'ts');
const r = readEvents(rightFile);

for (const [bench, table] of [['sort7', x], ['sort2', x2]]) {
  let s;
  const sort = await firstAndBest(repeats, async () => {
    s = table.sort(['id1', 'v1']);
  });
  const head = [...Array(Math.min(10, s.height)).keys()].map((i) => [Number(s.getColumn('id1').get(i)), s.getColumn('v1').get(i)]);
  emit({ bench, impl: 'polars', threads, first: sort.first, best: sort.best, rows: s.height, sum_v1: s.getColumn('v1').sum(), head });
}

let a;
const asof = await firstAndBest(repeats, async () => {
  a = l.sort('ts').joinAsof(r.withColumns(pl.col('ts').alias('ts_right')).sort('ts'), { on: 'ts', by: 'user_id', strategy: 'backward', suffix: '_right' });
});
const f1 = a.getColumn('f1');
emit({ bench: 'asof', impl: 'polars', threads, first: asof.first, best: asof.best, rows: a.height, matched: a.height - f1.nullCount(), sum_f1: f1.sum() });
