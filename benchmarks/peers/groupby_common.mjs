// Shared pieces of the group-by-benchmark peers (groupby_duckdb.mjs, groupby_polars.mjs): the ten
// db-benchmark group-by questions and the columns whose sums are each answer's checksums (as
// db-benchmark's `chk`). groupby_pandas.py, groupby_dask.py, benchmarks/groupby_comparisons.sh
// (the shardflow job) and groupby_report.py repeat this list: keep them in step.
import { emit } from './common.mjs';

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
