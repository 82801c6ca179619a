// Polars peer of benchmarks/ingest_comparisons.sh: reads FILE (a `shardflow gen groupby` CSV) once,
// in this fresh process, with the schema given, as groupby_polars.mjs loads it, and prints
//   {"bench":"csv_ingest_first","impl":"polars","threads":T,"rows":N,"seconds":S}
//   POLARS_MAX_THREADS=T node peers/ingest_polars.mjs FILE.csv
import { GROUPBY_COLUMNS, emit, parseArgs, peerThreads } from './common.mjs';

const { file } = parseArgs('peers/ingest_polars.mjs');
const threads = peerThreads();
process.env.POLARS_MAX_THREADS = String(threads);
const { default: pl } = await import('nodejs-polars');

const DTYPE = { string: pl.Utf8, int64: pl.Int64, float64: pl.Float64 };
const t0 = process.hrtime.bigint();
const x = pl.readCSV(file, { dtypes: Object.fromEntries(GROUPBY_COLUMNS.map(([n, t]) => [n, DTYPE[t]])), numThreads: threads, rechunk: true });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
emit({ bench: 'csv_ingest_first', impl: 'polars', threads, rows: x.height, seconds });
