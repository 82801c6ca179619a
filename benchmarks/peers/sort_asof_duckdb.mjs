// DuckDB peer of benchmarks/sort_asof_comparisons.sh:
//   node peers/sort_asof_duckdb.mjs X.csv LEFT.csv RIGHT.csv [repeats]
// X.csv: `shardflow gen join` x (sorted by id1, v1: all 7 columns, "sort7", and only those two,
// "sort2"); LEFT/RIGHT.csv: `shardflow gen events`
// events tables (as-of joined on user_id, ts, backward). Loads them into tables, then times
// ORDER BY and ASOF JOIN `repeats` times each, materialized with CREATE TABLE ... AS, and prints
// JSON lines {"bench":"sort7"|"sort2"|"asof","impl":"duckdb","threads":T,"first":S,"best":S,...checks}.
import fs from 'node:fs';
import { duckdbConnect, emit, peerThreads } from './common.mjs';
import { firstAndBest } from './join_common.mjs';

const [xFile, leftFile, rightFile, repeatsArg = '3'] = process.argv.slice(2);
for (const f of [xFile, leftFile, rightFile]) {
  if (!f || !fs.existsSync(f)) {
    console.error(`peers/sort_asof_duckdb.mjs: error: '${f ?? ''}' does not exist\nusage: node peers/sort_asof_duckdb.mjs X.csv LEFT.csv RIGHT.csv [repeats]`);
    process.exit(2);
  }
}
const repeats = Number(repeatsArg);
const threads = peerThreads();
const con = await duckdbConnect(threads);
const q = (f) => f.replaceAll("'", "''");
const events = "columns = {'event_id': 'BIGINT', 'user_id': 'BIGINT', 'ts': 'TIMESTAMP', 'f1': 'DOUBLE', 'f2': 'DOUBLE', 'f3': 'DOUBLE'}";
await con.run(`CREATE TABLE x AS SELECT * FROM read_csv('${q(xFile)}', header = true, columns = {'id1': 'BIGINT', 'id2': 'BIGINT', 'id3': 'BIGINT', 'id4': 'VARCHAR', 'id5': 'VARCHAR', 'id6': 'VARCHAR', 'v1': 'DOUBLE'})`);
await con.run('CREATE TABLE x2 AS SELECT id1, v1 FROM x');
await con.run(`CREATE TABLE l AS SELECT event_id, user_id, ts FROM read_csv('${q(leftFile)}', header = true, ${events})`);
await con.run(`CREATE TABLE r AS SELECT * FROM read_csv('${q(rightFile)}', header = true, ${events})`);

async function rows(sql) {
  return (await con.runAndReadAll(sql)).getRows();
}
for (const [bench, table] of [['sort7', 'x'], ['sort2', 'x2']]) {
  const sort = await firstAndBest(repeats, async () => {
    await con.run('DROP TABLE IF EXISTS s');
    await con.run(`CREATE TABLE s AS SELECT * FROM ${table} ORDER BY id1, v1`);
  });
  const [[n, sum]] = await rows('SELECT count(*), sum(v1) FROM s');
  const head = (await rows('SELECT id1, v1 FROM s LIMIT 10')).map(([a, b]) => [Number(a), Number(b)]);
  emit({ bench, impl: 'duckdb', threads, first: sort.first, best: sort.best, rows: Number(n), sum_v1: Number(sum), head });
  await con.run('DROP TABLE s');
}

const asof = await firstAndBest(repeats, async () => {
  await con.run('DROP TABLE IF EXISTS a');
  await con.run(`CREATE TABLE a AS SELECT l.event_id, l.user_id, l.ts, r.event_id AS event_id_right,
    r.ts AS ts_right, r.f1, r.f2, r.f3 FROM l ASOF LEFT JOIN r ON l.user_id = r.user_id AND l.ts >= r.ts`);
});
const [[an, matched, f1]] = await rows('SELECT count(*), count(f1), sum(f1) FROM a');
emit({ bench: 'asof', impl: 'duckdb', threads, first: asof.first, best: asof.best, rows: Number(an), matched: Number(matched), sum_f1: Number(f1) });
