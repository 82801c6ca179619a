// Polars (nodejs-polars) peer for the side-by-side benchmarks (see ../README.md):
//   node peers/polars.mjs FILE.csv [repeats]
// prints JSON lines {"bench":"csv_ingest"|"groupby_q1"|"groupby_all6","impl":"polars",
// "threads":T,"rows":N,"seconds":S[,"groups":G]} with S the best of `repeats` runs.
// Threads: SHARDFLOW_PEER_THREADS (default 2). Polars sizes its global thread pool from
// POLARS_MAX_THREADS when the native module is first used, so it is set before the import below
// (and checked afterwards).
import { GROUPBY_COLUMNS, bestOf, emit, parseArgs, peerThreads } from './common.mjs';

const { file, repeats } = parseArgs('peers/polars.mjs');
const threads = peerThreads();
process.env.POLARS_MAX_THREADS = String(threads);
const { default: pl } = await import('nodejs-polars');

const POLARS_TYPE = { string: pl.Utf8, int64: pl.Int64, float64: pl.Float64 };
const schema = Object.fromEntries(GROUPBY_COLUMNS.map(([name, type]) => [name, POLARS_TYPE[type]]));

// (i) CSV ingest with the schema given explicitly (no inference pass).
let df;
const ingest = await bestOf(repeats, async () => {
  df = null;
  df = pl.readCSV(file, { schema, hasHeader: true, sep: ',', numThreads: threads, rechunk: true });
  return df.height;
});
const rows = df.height;
emit({ bench: 'csv_ingest', impl: 'polars', threads, rows, seconds: ingest.seconds });

// (ii) q1 and (iii) the all-six-keys group-by on the loaded DataFrame (results are materialized
// DataFrames; eager API).
const keys6 = ['id1', 'id2', 'id3', 'id4', 'id5', 'id6'];
const questions = [
  ['groupby_q1', () => df.groupBy('id1').agg(pl.col('v1').sum())],
  ['groupby_all6', () => df.groupBy(keys6).agg(pl.col('v3').sum(), pl.len().alias('count'))],
];
for (const [bench, query] of questions) {
  const run = await bestOf(repeats, async () => query().height);
  emit({ bench, impl: 'polars', threads, rows, groups: run.value, seconds: run.seconds });
}
