// DuckDB peer of benchmarks/ingest_comparisons.sh: loads FILE (a `shardflow gen groupby` CSV) into
// a table once, in this fresh process, with the schema given, as groupby_duckdb.mjs does, and prints
//   {"bench":"csv_ingest_first","impl":"duckdb","threads":T,"rows":N,"seconds":S}
//   SHARDFLOW_PEER_THREADS=T node peers/ingest_duckdb.mjs FILE.csv
import { duckdbConnect, emit, parseArgs, peerThreads } from './common.mjs';
import { duckdbLoadGroupby } from './groupby_common.mjs';

const { file } = parseArgs('peers/ingest_duckdb.mjs');
const threads = peerThreads();
const con = await duckdbConnect(threads);
const t0 = process.hrtime.bigint();
await duckdbLoadGroupby(con, file);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const rows = Number((await con.runAndReadAll('SELECT count(*) FROM x')).getRows()[0][0]);
emit({ bench: 'csv_ingest_first', impl: 'duckdb', threads, rows, seconds });
