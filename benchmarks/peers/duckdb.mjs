// DuckDB peer for the side-by-side benchmarks (see ../README.md):
//   node peers/duckdb.mjs FILE.csv [repeats]
// prints JSON lines {"bench":"csv_ingest"|"groupby_q1"|"groupby_all6","impl":"duckdb",
// "threads":T,"rows":N,"seconds":S[,"groups":G]} with S the best of `repeats` runs.
// Threads: SHARDFLOW_PEER_THREADS (default 2), applied with `SET threads`.
import { GROUPBY_COLUMNS, bestOf, duckdbConnect, emit, parseArgs, peerThreads } from './common.mjs';

const { file, repeats } = parseArgs('peers/duckdb.mjs');
const threads = peerThreads();
const SQL_TYPE = { string: 'VARCHAR', int64: 'BIGINT', float64: 'DOUBLE' };

const con = await duckdbConnect(threads);
// Keep DuckDB's optimizer from skipping work whose result is not read: results are materialized
// into tables (CREATE TABLE ... AS), as db-benchmark does.
const schema = GROUPBY_COLUMNS.map(([name, type]) => `'${name}': '${SQL_TYPE[type]}'`).join(', ');
const path = file.replaceAll("'", "''");
const scan = `read_csv('${path}', header = true, delim = ',', columns = {${schema}})`;

async function scalar(sql) {
  const reader = await con.runAndReadAll(sql);
  return Number(reader.getRows()[0][0]);
}

// (i) CSV ingest: parse the whole file into an in-memory table with the schema given explicitly.
const ingest = await bestOf(repeats, async () => {
  await con.run('DROP TABLE IF EXISTS x');
  await con.run(`CREATE TABLE x AS SELECT * FROM ${scan}`);
});
const rows = await scalar('SELECT count(*) FROM x');
emit({ bench: 'csv_ingest', impl: 'duckdb', threads, rows, seconds: ingest.seconds });

// (ii) q1 and (iii) the all-six-keys group-by on the loaded table, materialized as `ans`.
const questions = [
  ['groupby_q1', 'SELECT id1, sum(v1) AS v1 FROM x GROUP BY id1'],
  ['groupby_all6',
    'SELECT id1, id2, id3, id4, id5, id6, sum(v3) AS v3, count(*) AS count FROM x GROUP BY id1, id2, id3, id4, id5, id6'],
];
for (const [bench, query] of questions) {
  const run = await bestOf(repeats, async () => {
    await con.run('DROP TABLE IF EXISTS ans');
    await con.run(`CREATE TABLE ans AS ${query}`);
  });
  const groups = await scalar('SELECT count(*) FROM ans');
  emit({ bench, impl: 'duckdb', threads, rows, groups, seconds: run.seconds });
}
con.closeSync?.();
