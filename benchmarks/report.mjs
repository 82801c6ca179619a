// Turns the JSON lines collected by run_comparisons.sh into a Markdown report and a target check.
//   node report.mjs RESULTS.json REPORT.md
// RESULTS.json: one JSON object per line, from the shardflow drivers (bench_*.cpp: "impl":"shardflow"
// or "mpi_alltoallv", "ranks":R) and the peers (peers/*.mjs: "impl":"duckdb"|"polars","threads":T).
// Prints the target verdicts to stdout; exit code 0 whatever they are (the machine decides the
// numbers, so nothing here is an assertion), 2 on unreadable input.
import fs from 'node:fs';

const [resultsPath, reportPath] = process.argv.slice(2);
if (!resultsPath || !reportPath) {
  console.error('usage: node report.mjs RESULTS.json REPORT.md');
  process.exit(2);
}

const records = [];
fs.readFileSync(resultsPath, 'utf8').split('\n').forEach((line, i) => {
  if (!line.trim()) return;
  try {
    records.push(JSON.parse(line));
  } catch (e) {
    console.error(`report.mjs: error: ${resultsPath}:${i + 1}: not a JSON object (${e.message}): ${line}`);
    process.exit(2);
  }
});

const PEERS = ['duckdb', 'polars'];
// Degree of parallelism of a record: MPI ranks for shardflow, threads for the peers.
const cores = (r) => r.ranks ?? r.threads ?? 1;
const label = (r) => (r.ranks !== undefined ? `${r.ranks} rank${r.ranks > 1 ? 's' : ''}` : `${r.threads} thread${r.threads > 1 ? 's' : ''}`);
const fmtS = (s) => (s >= 1 ? s.toFixed(3) : s >= 0.01 ? s.toFixed(4) : s.toExponential(2));

// Best (smallest) seconds per (bench, impl, parallelism); the drivers already report best-of-repeats,
// the minimum here only matters if a run was repeated.
function best(bench) {
  const byKey = new Map();
  for (const r of records.filter((x) => x.bench === bench)) {
    const key = `${r.impl}/${cores(r)}/${r.ranks !== undefined ? 'r' : 't'}`;
    const old = byKey.get(key);
    if (!old || r.seconds < old.seconds) byKey.set(key, r);
  }
  return [...byKey.values()].sort((a, b) => cores(a) - cores(b) || a.impl.localeCompare(b.impl));
}

function find(bench, impl, n) {
  return best(bench).find((r) => r.impl === impl && cores(r) === n);
}

function fastestPeer(bench, n) {
  const peers = best(bench).filter((r) => PEERS.includes(r.impl) && cores(r) === n);
  return peers.sort((a, b) => a.seconds - b.seconds)[0];
}

const rowsOf = records.find((r) => r.rows !== undefined)?.rows;
const lines = [];
lines.push('# shardflow vs DuckDB / Polars — side-by-side run', '');
const os = await import('node:os');
// Peer versions as installed next to this script (node_modules/<pkg>/package.json).
const version = (pkg) => {
  try {
    const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
    return JSON.parse(fs.readFileSync(url, 'utf8')).version;
  } catch {
    return 'unknown';
  }
};
lines.push(`Generated ${new Date().toISOString()} on \`${os.hostname()}\` (${os.cpus().length} logical CPUs, ` +
  `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB) from \`${resultsPath}\`; DuckDB ${version('@duckdb/node-api')}, ` +
  `nodejs-polars ${version('nodejs-polars')}, Node ${process.version}.`);
lines.push('');
lines.push(`Load average (1/5/15 min) before the run: ${process.env.SHARDFLOW_BENCH_LOAD_START ?? 'not recorded'}, ` +
  `after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}. ` +
  `A load above the core count means other processes competed for the cores and the times are inflated.`);
lines.push('');
lines.push('All numbers come from one run on the same machine; each time is the best of the repeats.',
  'Ratios compare with the fastest peer at the same number of cores (ranks = threads); ' +
  '< 1 means shardflow is faster. Absolute times depend on the machine, the ratios are the point.', '');

const QUESTIONS = [
  ['csv_ingest', `CSV ingest (${rowsOf ?? '?'} rows, schema given, into memory)`],
  ['groupby_q1', 'Group-by q1: sum(v1) by id1'],
  ['groupby_all6', 'Group-by: sum(v3), count(*) by id1..id6'],
];
for (const [bench, title] of QUESTIONS) {
  const rows = best(bench);
  lines.push(`## ${title}`, '');
  if (!rows.length) {
    lines.push('_not measured in this run_', '');
    continue;
  }
  lines.push('| impl | cores | rows | groups | best seconds | vs fastest peer at same cores |', '|---|---|---|---|---|---|');
  for (const r of rows) {
    const peer = fastestPeer(bench, cores(r));
    const ratio = peer ? `${(r.seconds / peer.seconds).toFixed(2)}x of ${peer.impl}` : 'no peer at this core count';
    lines.push(`| ${r.impl} | ${label(r)} | ${r.rows ?? ''} | ${r.groups ?? ''} | ${fmtS(r.seconds)} | ${ratio} |`);
  }
  lines.push('');
}

lines.push('## Shuffle: shardflow vs raw MPI_Alltoallv', '');
const shuffle = best('shuffle');
if (!shuffle.length) {
  lines.push('_not measured in this run_', '');
} else {
  lines.push('| impl | ranks | rows | bytes | best seconds | GB/s | fraction of raw alltoallv |', '|---|---|---|---|---|---|---|');
  for (const r of shuffle) {
    const raw = shuffle.find((x) => x.impl === 'mpi_alltoallv' && x.ranks === r.ranks);
    const tp = r.bytes / r.seconds;
    const frac = raw ? (tp / (raw.bytes / raw.seconds)).toFixed(3) : 'n/a';
    lines.push(`| ${r.impl} | ${r.ranks} | ${r.rows ?? ''} | ${r.bytes} | ${fmtS(r.seconds)} | ${(tp / 1e9).toFixed(3)} | ${frac} |`);
  }
  lines.push('');
}

// Every engine answered the same question on the same file, so row and group counts must agree; a
// mismatch means one of them read or grouped the data wrongly and its time means nothing.
const consistency = [];
for (const [bench] of QUESTIONS) {
  for (const field of ['rows', 'groups']) {
    const seen = new Map();
    for (const r of records.filter((x) => x.bench === bench && x[field] !== undefined)) {
      seen.set(`${r.impl} (${label(r)})`, r[field]);
    }
    if (new Set(seen.values()).size > 1) {
      consistency.push(`- MISMATCH: ${bench} ${field}: ${[...seen].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  }
}
lines.push('## Consistency', '', ...(consistency.length ? consistency : ['All engines report the same row and group counts for every question.']), '');

// Targets, at 2 ranks vs 2 threads.
const verdicts = [];
function target(name, ok, detail) {
  verdicts.push(`- ${ok === undefined ? 'NOT MEASURED' : ok ? 'HOLDS' : 'MISSED'}: ${name}${detail ? ` — ${detail}` : ''}`);
}
{
  const sf = find('csv_ingest', 'shardflow', 2);
  const pl = find('csv_ingest', 'polars', 2);
  target('CSV ingest at 2 ranks >= 2x faster than Polars at 2 threads', sf && pl ? pl.seconds / sf.seconds >= 2 : undefined,
    sf && pl ? `shardflow ${fmtS(sf.seconds)} s, Polars ${fmtS(pl.seconds)} s, speed-up ${(pl.seconds / sf.seconds).toFixed(2)}x` : '');
}
{
  const sf = find('shuffle', 'shardflow', 2);
  const raw = find('shuffle', 'mpi_alltoallv', 2);
  const frac = sf && raw ? (sf.bytes / sf.seconds) / (raw.bytes / raw.seconds) : undefined;
  target('shuffle at 2 ranks >= 85% of raw MPI_Alltoallv throughput', frac === undefined ? undefined : frac >= 0.85,
    frac === undefined ? '' : `fraction ${frac.toFixed(3)}`);
}
for (const bench of ['groupby_q1', 'groupby_all6']) {
  const sf = find(bench, 'shardflow', 2);
  const dd = find(bench, 'duckdb', 2);
  target(`${bench} at 2 ranks faster than DuckDB at 2 threads`, sf && dd ? sf.seconds < dd.seconds : undefined,
    sf && dd ? `shardflow ${fmtS(sf.seconds)} s, DuckDB ${fmtS(dd.seconds)} s (${(sf.seconds / dd.seconds).toFixed(2)}x)` : '');
}
lines.push('## Targets (2 ranks vs 2 threads)', '', ...verdicts, '');

fs.writeFileSync(reportPath, lines.join('\n'));
console.log([...consistency, ...verdicts].join('\n'));
