// Polars peer of benchmarks/ingest_comparisons.sh: reads FILE (a `shardflow gen groupby` CSV) once,
// in this fresh process, with the schema given, as groupby_polars.mjs loads it, and prints
//   {"bench":"csv_ingest_first","impl":"polars","threads":T,"rows":N,"seconds":S}
//   POLARS_MAX_THREADS=T node peers/ingest_polars.mjs FILE.csv
import { emit, parseArgs, peerThreads } from './common.mjs';
import { polarsReadGroupby } from './groupby_common.mjs';

const { file } = parseArgs('peers/ingest_polars.mjs');
const threads = peerThreads();
// Polars sizes its thread pool from POLARS_MAX_THREADS when the native module is first used.
process.env.POLARS_MAX_THREADS = String(threads);
const { default: pl } = await import('nodejs-polars');

const t0 = process.hrtime.bigint();
const x = polarsReadGroupby(pl, file, threads);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
emit({ bench: 'csv_ingest_first', impl: 'polars', threads, rows: x.height, seconds });
