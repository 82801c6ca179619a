// DuckDB peer of benchmarks/groupby_comparisons.sh:
//   node peers/groupby_duckdb.mjs FILE.csv [repeats]
// loads FILE (a `shardflow gen groupby` CSV) into table x (timed apart: groupby_load), then runs
// the db-benchmark group-by questions q1-q10 `repeats` times each with db-benchmark's own SQL,
// materialized with CREATE TABLE ans AS ..., and prints one JSON line per question:
// {"bench":"groupby_q1","impl":"duckdb","threads":T,"first":S,"best":S,"rows":R,"chk":{"v1":..}}
// (chk: the sum of each answer column, as db-benchmark's checksum), then the peak memory.
// Threads: SHARDFLOW_PEER_THREADS (default 2).
import { duckdbConnect, emit, firstAndBest, parseArgs, peerThreads } from './common.mjs';
import { GROUPBY_QUESTIONS, duckdbLoadGroupby, emitPeakMemory, jsonNumber } from './groupby_common.mjs';

const { file, repeats } = parseArgs('peers/groupby_duckdb.mjs');
const threads = peerThreads();
const con = await duckdbConnect(threads);

const t0 = process.hrtime.bigint();
await duckdbLoadGroupby(con, file);
emit({ bench: 'groupby_load', impl: 'duckdb', threads, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });

// db-benchmark's duckdb/groupby-duckdb.py, question by question.
const SQL = {
  q1: 'SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1',
  q2: 'SELECT id1, id2, sum(v1) AS v1 FROM x GROUP BY id1, id2',
  q3: 'SELECT id3, sum(v1) AS v1, avg(v3) AS v3 FROM x GROUP BY id3',
  q4: 'SELECT id4, avg(v1) AS v1, avg(v2) AS v2, avg(v3) AS v3 FROM x GROUP BY id4',
  q5: 'SELECT id6, sum(v1) AS v1, sum(v2) AS v2, sum(v3) AS v3 FROM x GROUP BY id6',
  q6: 'SELECT id4, id5, quantile_cont(v3, 0.5) AS median_v3, stddev(v3) AS sd_v3 FROM x GROUP BY id4, id5',
  q7: 'SELECT id3, max(v1) - min(v2) AS range_v1_v2 FROM x GROUP BY id3',
  q8: 'SELECT id6, unnest(max(v3, 2)) AS largest2_v3 FROM x WHERE v3 IS NOT NULL GROUP BY id6',
  q9: 'SELECT id2, id4, pow(corr(v1, v2), 2) AS r2 FROM x GROUP BY id2, id4',
  q10: 'SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM x GROUP BY id1, id2, id3, id4, id5, id6',
};

for (const [q, , chkColumns] of GROUPBY_QUESTIONS) {
  const t = await firstAndBest(repeats, async () => {
    await con.run('DROP TABLE IF EXISTS ans');
    await con.run(`CREATE TABLE ans AS ${SQL[q]}`);
  });
  const sums = chkColumns.map((c) => `sum(${c})::DOUBLE`).join(', ');
  const [rows, ...values] = (await con.runAndReadAll(`SELECT count(*), ${sums} FROM ans`)).getRows()[0];
  const chk = Object.fromEntries(chkColumns.map((c, i) => [c, jsonNumber(values[i])]));
  emit({ bench: `groupby_${q}`, impl: 'duckdb', threads, first: t.first, best: t.best, rows: Number(rows), chk });
}
await con.run('DROP TABLE IF EXISTS ans');
emitPeakMemory('duckdb', threads);
