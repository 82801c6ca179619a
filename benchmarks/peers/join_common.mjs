// Shared pieces of the join-benchmark peers (join_duckdb.mjs, join_polars.mjs): the db-benchmark
// join questions q1-q5 on the tables of `shardflow gen join`, and their checksums.
import fs from 'node:fs';

// Column types of `shardflow gen join` (include/shardflow/io/synthetic_join.hpp).
export const JOIN_TABLES = {
  x: [['id1', 'int64'], ['id2', 'int64'], ['id3', 'int64'], ['id4', 'string'], ['id5', 'string'], ['id6', 'string'], ['v1', 'float64']],
  small: [['id1', 'int64'], ['id4', 'string'], ['v2', 'float64']],
  medium: [['id1', 'int64'], ['id2', 'int64'], ['id4', 'string'], ['id5', 'string'], ['v2', 'float64']],
  big: [['id1', 'int64'], ['id2', 'int64'], ['id3', 'int64'], ['id4', 'string'], ['id5', 'string'], ['id6', 'string'], ['v2', 'float64']],
};

// db-benchmark's join questions: [name, right table, key, how].
export const JOIN_QUESTIONS = [
  ['q1', 'small', 'id1', 'inner'],
  ['q2', 'medium', 'id2', 'inner'],
  ['q3', 'medium', 'id2', 'left'],
  ['q4', 'medium', 'id5', 'inner'],
  ['q5', 'big', 'id3', 'inner'],
];

// Parses `SCRIPT DIR [repeats]`; exits 2 with a usage message on bad input.
export function parseJoinArgs(script) {
  const [dir, repeatsArg = '3'] = process.argv.slice(2);
  const usage = `usage: node ${script} DIR [repeats]  (DIR: written by \`shardflow gen join --rows N --out DIR\`)`;
  for (const t of Object.keys(JOIN_TABLES)) {
    if (!dir || !fs.existsSync(`${dir}/${t}.csv`)) {
      console.error(`${script}: error: '${dir ?? ''}/${t}.csv' does not exist\n${usage}`);
      process.exit(2);
    }
  }
  const repeats = Number(repeatsArg);
  if (!Number.isInteger(repeats) || repeats < 1) {
    console.error(`${script}: error: repeats must be a positive integer, got '${repeatsArg}'\n${usage}`);
    process.exit(2);
  }
  return { dir, repeats };
}

// Times `fn` `repeats` times: the first run and the best (in common.mjs, shared with the group-by peers).
export { firstAndBest } from './common.mjs';
