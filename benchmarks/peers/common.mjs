// Shared pieces of the peer benchmark drivers (duckdb.mjs, polars.mjs; firstAndBest and emit also
// for the join and group-by peers): argument parsing, the db-benchmark groupby schema, best-of-N
// timing and the JSON-lines output format that run_comparisons.sh collects next to the shardflow
// drivers' lines.
import fs from 'node:fs';

// Column names and logical types of `shardflow gen groupby` (see include/shardflow/io/synthetic.hpp).
export const GROUPBY_COLUMNS = [
  ['id1', 'string'], ['id2', 'string'], ['id3', 'string'],
  ['id4', 'int64'], ['id5', 'int64'], ['id6', 'int64'],
  ['v1', 'int64'], ['v2', 'int64'], ['v3', 'float64'],
];

// Parses `SCRIPT FILE [repeats]`; exits 2 with a usage message on bad input.
export function parseArgs(script) {
  const [file, repeatsArg = '3'] = process.argv.slice(2);
  const usage = `usage: node ${script} FILE.csv [repeats]  (FILE: a \`shardflow gen groupby\` CSV)`;
  if (!file) {
    console.error(`${script}: error: missing the CSV path\n${usage}`);
    process.exit(2);
  }
  if (!fs.existsSync(file)) {
    console.error(`${script}: error: '${file}' does not exist; generate it with: shardflow gen groupby --rows N --out ${file}\n${usage}`);
    process.exit(2);
  }
  const repeats = Number(repeatsArg);
  if (!Number.isInteger(repeats) || repeats < 1) {
    console.error(`${script}: error: repeats must be a positive integer, got '${repeatsArg}'\n${usage}`);
    process.exit(2);
  }
  return { file, repeats };
}

// Threads the peer may use: SHARDFLOW_PEER_THREADS, default 2 (the machine the targets are set for).
export function peerThreads() {
  const t = Number(process.env.SHARDFLOW_PEER_THREADS ?? '2');
  if (!Number.isInteger(t) || t < 1) {
    console.error(`error: SHARDFLOW_PEER_THREADS must be a positive integer, got '${process.env.SHARDFLOW_PEER_THREADS}'`);
    process.exit(2);
  }
  return t;
}

// Runs `fn` (async, returns a value) `repeats` times; returns the fastest wall time and the last value.
export async function bestOf(repeats, fn) {
  let best = Infinity;
  let value;
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    value = await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, seconds);
  }
  return { seconds: best, value };
}

// Times `fn` `repeats` times: the first run (what a job pays) and the best.
export async function firstAndBest(repeats, fn) {
  let first = 0;
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (i === 0) first = seconds;
    best = Math.min(best, seconds);
  }
  return { first, best };
}

export function emit(record) {
  process.stdout.write(JSON.stringify(record) + '\n');
}

// A connection to a fresh in-memory DuckDB limited to `threads` (`SET threads`), as every DuckDB
// peer runs. DuckDB is imported on first use, so the Polars peers never load it; the instance is
// kept referenced for the life of the process, since the connection needs its database.
const duckdbInstances = [];
export async function duckdbConnect(threads) {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  duckdbInstances.push(instance);
  const con = await instance.connect();
  await con.run(`SET threads = ${threads}`);
  return con;
}
