// Shared pieces of the group-by-benchmark peers (groupby_*.mjs, ingest_*.mjs): the ten
// db-benchmark group-by questions and the columns whose sums are each answer's checksums (as
// db-benchmark's `chk`). groupby_pandas.py, groupby_dask.py, benchmarks/groupby_comparisons.sh
// (the shardflow job) and groupby_report.py repeat this list: keep them in step.
import { GROUPBY_COLUMNS, emit } from './common.mjs';

// [question, what it computes, checksum columns]
export const GROUPBY_QUESTIONS = [
  ['q1', 'sum v1 by id1', ['v1']],
  ['q2', 'sum v1 by id1:id2', ['v1']],
  ['q3', 'sum v1 mean v3 by id3', ['v1', 'v3']],
  ['q4', 'mean v1:v3 by id4', ['v1', 'v2', 'v3']],
  ['q5', 'sum v1:v3 by id6', ['v1', 'v2', 'v3']],
  ['q6', 'median v3 sd v3 by id4 id5', ['median_v3', 'sd_v3']],
  ['q7', 'max v1 - min v2 by id3', ['range_v1_v2']],
  ['q8', 'largest two v3 by id6', ['largest2_v3']],
  ['q9', 'regression v1 v2 by id2 id4', ['r2']],
  ['q10', 'sum v3 count by id1:id6', ['v3', 'count']],
];

// A checksum for JSON: NaN and infinities as the strings "NaN", "Infinity", "-Infinity" (JSON has
// no such numbers; JSON.stringify would turn them into null, which means SQL NULL here).
export function jsonNumber(v) {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : String(n);
}

// The process's peak resident set (VmHWM), in bytes, as one JSON line.
export function emitPeakMemory(impl, threads) {
  emit({ bench: 'groupby_peak_memory', impl, threads, bytes: process.resourceUsage().maxRSS * 1024 });
}

// Loads FILE (a `shardflow gen groupby` CSV) with its schema given, as every Polars peer of the
// group-by table does (groupby_polars.mjs, ingest_polars.mjs): a rechunked DataFrame.
export function polarsReadGroupby(pl, file, threads) {
  const DTYPE = { string: pl.Utf8, int64: pl.Int64, float64: pl.Float64 };
  const dtypes = Object.fromEntries(GROUPBY_COLUMNS.map(([n, t]) => [n, DTYPE[t]]));
  return pl.readCSV(file, { dtypes, numThreads: threads, rechunk: true });
}

// Loads FILE into DuckDB table x with its schema given, as every DuckDB peer of the group-by
// table does (groupby_duckdb.mjs, ingest_duckdb.mjs).
export async function duckdbLoadGroupby(con, file) {
  const SQL_TYPE = { string: 'VARCHAR', int64: 'BIGINT', float64: 'DOUBLE' };
  const schema = GROUPBY_COLUMNS.map(([n, t]) => `'${n}': '${SQL_TYPE[t]}'`).join(', ');
  await con.run(`CREATE TABLE x AS SELECT * FROM read_csv('${file.replaceAll("'", "''")}', header = true, columns = {${schema}})`);
}
