// DuckDB peer of benchmarks/join_comparisons.sh:
//   node peers/join_duckdb.mjs DIR [repeats]
// loads DIR/{x,small,medium,big}.csv into tables (timed apart), then runs q1-q5 `repeats` times
// each, materialized with CREATE TABLE ... AS (as db-benchmark does), and prints one JSON line per
// question: {"bench":"join_q1","impl":"duckdb","threads":T,"first":S,"best":S,"rows":R,
// "sum_v1":..,"sum_v2":..}. Threads: SHARDFLOW_PEER_THREADS (default 2).
import { duckdbConnect, emit, peerThreads } from './common.mjs';
import { JOIN_QUESTIONS, JOIN_TABLES, firstAndBest, parseJoinArgs } from './join_common.mjs';

const { dir, repeats } = parseJoinArgs('peers/join_duckdb.mjs');
const threads = peerThreads();
const SQL_TYPE = { string: 'VARCHAR', int64: 'BIGINT', float64: 'DOUBLE' };
const con = await duckdbConnect(threads);

const t0 = process.hrtime.bigint();
for (const [table, columns] of Object.entries(JOIN_TABLES)) {
  const schema = columns.map(([n, t]) => `'${n}': '${SQL_TYPE[t]}'`).join(', ');
  const path = `${dir}/${table}.csv`.replaceAll("'", "''");
  await con.run(`CREATE TABLE ${table} AS SELECT * FROM read_csv('${path}', header = true, columns = {${schema}})`);
}
emit({ bench: 'join_load', impl: 'duckdb', threads, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });

for (const [q, right, key, how] of JOIN_QUESTIONS) {
  // The right side's columns other than the key, renamed where x has the name (as shardflow's
  // suffix does), so every engine materializes the same columns.
  const xcols = JOIN_TABLES.x.map(([n]) => `x.${n}`);
  const rcols = JOIN_TABLES[right].filter(([n]) => n !== key)
    .map(([n]) => (JOIN_TABLES.x.some(([m]) => m === n) ? `${right}.${n} AS ${n}_right` : `${right}.${n}`));
  const join = how === 'left' ? 'LEFT JOIN' : 'JOIN';
  const sql = `CREATE TABLE ans AS SELECT ${[...xcols, ...rcols].join(', ')} FROM x ${join} ${right} ON x.${key} = ${right}.${key}`;
  const t = await firstAndBest(repeats, async () => {
    await con.run('DROP TABLE IF EXISTS ans');
    await con.run(sql);
  });
  const reader = await con.runAndReadAll('SELECT count(*), sum(v1), sum(v2) FROM ans');
  const [rows, sumV1, sumV2] = reader.getRows()[0];
  emit({ bench: `join_${q}`, impl: 'duckdb', threads, first: t.first, best: t.best, rows: Number(rows), sum_v1: Number(sumV1), sum_v2: Number(sumV2) });
}
