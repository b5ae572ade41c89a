// Issue 15: the widgets mixed profile at 10M widgets, pexd against the published PostgreSQL design
// it replaces, side by side in one run on one PostgreSQL cluster (the reference's own settings):
//  - reference: a rebuild of that design (schema + PL/pgSQL functions, its setup.sh, run.sh and
//    bench_one.sh; not part of this repository: --reference DIR, required), copied to a temp
//    dir and run from there: its setup.sh makes the cluster, its run.sh load steps fill database
//    `widgets` (1M through add_widget, bulk to N), and its mix (bench_one.sh mix: 40 add / 40
//    associate / 10 remove_association / 10 read) runs under `pgbench -M prepared -j 2`, database
//    layer only, no HTTP; pgbench's per-transaction log (-l) gives p50/p99
//  - pexd on PostgreSQL over HTTP: database `pexd` in the same cluster, seeded by
//    scripts/seed-postgres.ts (then VACUUM ANALYZE), wrk -t1 -c50 with widgets-load.ts's mixed script
//  - pexd on SQLite over HTTP: a data dir seeded by scripts/seed.ts (or a copy of --sqlite-dir),
//    the same wrk mix
//  - a bare Bun.serve baseline (wrk GET /), for the × baseline column
// Rounds are interleaved (every case once, then again), a CHECKPOINT precedes every case, and the
// table gives medians; CPU per group (server, postgres, load client, everything else on the
// machine) is sampled from /proc during each run. Everything started here is stopped and removed at
// the end, on failure, on SIGINT/SIGTERM, and (by a watchdog shell) if this process is killed.
// Run as root (PostgreSQL runs as the postgres user through runuser); needs wrk and pgbench 15.
// Usage: bun run bench/widgets-pg-vs-reference.ts [--widgets 10000000] [--rounds 3] [--duration 20]
//          [--clients-ref 32,50] [--out bench/results/<date>-widgets-pg.md] [--keep] …  (--help)
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { deadPort } from "../test/helpers/net.ts";
import { haveWrk, markdownTable, median, type Server, startBaseline, startPexd, type WrkResult, wrk } from "./lib.ts";
import { SCRIPTS as WRK_SCRIPTS } from "./widgets-load.ts";

const USAGE = `usage: bun run bench/widgets-pg-vs-reference.ts [options]   (as root)
  --widgets N         widgets in each database (default 10000000; e.g. 1000000 for a quick check)
  --rounds N          interleaved rounds (default 3)
  --duration S        seconds per run (default 20)
  --warmup S          one unrecorded run of each database case first, S seconds (default 5; 0: none)
  --clients-ref LIST  pgbench clients for the reference mix, comma-separated (default 32,50)
  --connections N     wrk connections for pexd and the baseline (default 50)
  --reference DIR     the reference rebuild to copy (required; not part of this repository; never modified)
  --sqlite-dir DIR    an existing data dir seeded with scripts/seed.ts --widgets N --seed 1: copied
                      instead of seeding SQLite here
  --port N            PostgreSQL port (default: a free one)
  --out FILE          also write the report (markdown) to FILE
  --keep              leave the cluster running and the temp dirs in place (paths printed)
  --help              this text`;

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      widgets: { type: "string", default: "10000000" },
      rounds: { type: "string", default: "3" },
      duration: { type: "string", default: "20" },
      warmup: { type: "string", default: "5" },
      "clients-ref": { type: "string", default: "32,50" },
      connections: { type: "string", default: "50" },
      reference: { type: "string" },
      "sqlite-dir": { type: "string" },
      port: { type: "string" },
      out: { type: "string" },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
  process.exit(64);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const bad = (msg: string): never => {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(64);
};
const int = (name: string, min: number) => {
  const n = Number(values[name]);
  if (!Number.isSafeInteger(n) || n < min) bad(`--${name} must be an integer ≥ ${min}`);
  return n;
};
const WIDGETS = int("widgets", 1000);
const ROUNDS = int("rounds", 1);
const DURATION = int("duration", 1);
const WARMUP = int("warmup", 0);
const CONNECTIONS = int("connections", 1);
const REF_CLIENTS = String(values["clients-ref"])
  .split(",")
  .map((s) => Number(s.trim()));
if (!REF_CLIENTS.length || REF_CLIENTS.some((c) => !Number.isSafeInteger(c) || c < 1)) bad("--clients-ref takes integers ≥ 1, e.g. 32,50");
const PORT_ARG = values.port === undefined ? undefined : int("port", 1);
if (!values.reference) bad("--reference DIR is required: the rebuild of the reference design to compare with");
const REF_SRC = resolve(String(values.reference));
const SQLITE_SRC = values["sqlite-dir"] === undefined ? undefined : resolve(String(values["sqlite-dir"]));
const OUT = values.out === undefined ? undefined : resolve(String(values.out));
const KEEP = values.keep === true;

const PGBIN = "/usr/lib/postgresql/15/bin";
const ROOT = resolve(import.meta.dir, "..");
const COMMAND = `bun run bench/widgets-pg-vs-reference.ts ${Bun.argv.slice(2).join(" ")}`.trim();

if (process.getuid?.() !== 0) bad("run as root: PostgreSQL runs as the postgres user through runuser");
if (!haveWrk()) bad("wrk not found (apt-get install -y wrk)");
for (const f of [join(PGBIN, "pg_ctl"), join(PGBIN, "pgbench"), join(PGBIN, "psql")])
  if (!existsSync(f)) bad(`${f} is missing (apt-get install -y postgresql)`);
for (const f of ["setup.sh", "bench/add.sql", "bench/assoc.sql", "bench/remove.sql", "bench/read.sql", "sql/01_schema.sql"]) {
  if (!existsSync(join(REF_SRC, f))) bad(`${REF_SRC} is not the widgets-pg reference (no ${f})`);
}
if (SQLITE_SRC && !existsSync(join(SQLITE_SRC, "pexd.sqlite"))) bad(`--sqlite-dir ${SQLITE_SRC} holds no pexd.sqlite`);

const PG_PORT = PORT_ARG ?? (await deadPort());
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

// ---------------------------------------------------------------- cleanup, whatever happens

/** Everything lives under WORK (0755: the postgres user traverses it to the reference's data/). */
const WORK = mkdtempSync("/tmp/pexd-ref-");
chmodSync(WORK, 0o755);
const REF = join(WORK, "widgets-pg");
const PGDATA = join(REF, "data");
const PIDS = join(WORK, "children.pids"); // our long-lived children, for the watchdog
writeFileSync(PIDS, "");
// lib.ts's wrk() and test/helpers' tempDir() make their dirs under os.tmpdir(): keep them in WORK.
process.env.TMPDIR = WORK;

const children = new Set<Server>();
let watchdog: ReturnType<typeof Bun.spawn> | undefined;
let cleaned: Promise<void> | undefined;
const pgctl = (action: string) =>
  spawnSync("runuser", ["-u", "postgres", "--", join(PGBIN, "pg_ctl"), "-D", PGDATA, "-m", "fast", "-w", action], { encoding: "utf8" });

function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    watchdog?.kill("SIGKILL");
    for (const s of children) await s.stop().catch(() => {});
    children.clear();
    if (KEEP) {
      log(`--keep: cluster left running in ${PGDATA} (port ${PG_PORT}); temp files in ${WORK}`);
      log(`  stop it with: runuser -u postgres -- ${PGBIN}/pg_ctl -D ${PGDATA} -m fast stop; rm -rf ${WORK}`);
      return;
    }
    if (existsSync(join(PGDATA, "postmaster.pid"))) pgctl("stop");
    rmSync(WORK, { recursive: true, force: true });
  })();
  return cleaned;
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1)));
  });
}
const track = (s: Server) => {
  children.add(s);
  writeFileSync(PIDS, [...children].map((c) => c.pid).join("\n"));
  return s;
};
const untrack = async (s: Server) => {
  children.delete(s);
  await s.stop();
};

// ---------------------------------------------------------------- small process helpers

const PGENV = { ...process.env, PGHOST: "127.0.0.1", PGPORT: String(PG_PORT), PGUSER: "postgres" } as Record<string, string>;
const pgUrl = (db: string) => `postgres://postgres@127.0.0.1:${PG_PORT}/${db}`;

async function sh(
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string>; what: string },
): Promise<{ out: string; err: string }> {
  const p = Bun.spawn(cmd, { cwd: opts.cwd ?? REF, env: opts.env ?? PGENV, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`${opts.what} failed (exit ${code}):\n${err}${out}`);
  return { out, err };
}
const psql = async (db: string, ...cmds: string[]) =>
  (
    await sh([join(PGBIN, "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", db, ...cmds.flatMap((c) => ["-c", c])], {
      what: `psql ${cmds[0]}`,
    })
  ).out.trim();
const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const v = await fn();
  return [v, (performance.now() - t0) / 1000];
};
const uptime = () => spawnSync("uptime", { encoding: "utf8" }).stdout.trim();

// ---------------------------------------------------------------- CPU per group, from /proc

interface Stat {
  ppid: number;
  comm: string;
  ticks: number; // utime + stime, USER_HZ (100/s)
}
function readStat(pid: number): Stat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const f = s.slice(close + 2).split(" ");
    return { ppid: Number(f[1]), comm: s.slice(s.indexOf("(") + 1, close), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}
function scan(): Map<number, Stat> {
  const m = new Map<number, Stat>();
  for (const e of readdirSync("/proc")) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    const st = readStat(Number(e));
    if (st) m.set(Number(e), st);
  }
  return m;
}
/** Machine-wide jiffies from /proc/stat: busy (everything but idle and iowait), steal, total. */
function machine(): { busy: number; steal: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), steal: f[7] ?? 0, total };
}
const postmasterPid = () => Number(readFileSync(join(PGDATA, "postmaster.pid"), "utf8").split("\n")[0]);

interface CpuSplit {
  seconds: number;
  server: number; // cores (CPU seconds per second)
  postgres: number;
  client: number;
  driver: number;
  other: number;
  busy: number; // machine-wide cores busy
  steal: number; // cores stolen by the hypervisor
}
/**
 * Samples /proc every 200 ms while a run lasts: a process that exits keeps its last sample (the
 * pgbench backends go when pgbench does, so they lose at most one interval).
 */
function watchCpu(serverPid: number | null): () => CpuSplit {
  const pm = postmasterPid();
  const group = (pid: number, st: Stat): keyof CpuSplit | null => {
    if (pid === serverPid) return "server";
    if (pid === pm || st.ppid === pm) return "postgres";
    if (pid === process.pid) return "driver";
    if (st.ppid === process.pid && (st.comm === "wrk" || st.comm === "pgbench")) return "client";
    return null;
  };
  const start = scan();
  const last = new Map<number, [keyof CpuSplit, number]>();
  const m0 = machine();
  const t0 = performance.now();
  const sample = () => {
    for (const [pid, st] of scan()) {
      const g = group(pid, st);
      if (g) last.set(pid, [g, st.ticks - (start.get(pid)?.ticks ?? 0)]);
    }
  };
  sample();
  const timer = setInterval(sample, 200);
  return () => {
    sample();
    clearInterval(timer);
    const secs = (performance.now() - t0) / 1000;
    const m1 = machine();
    const cores = (ticks: number) => ticks / 100 / secs;
    const sum: Record<string, number> = { server: 0, postgres: 0, client: 0, driver: 0 };
    for (const [g, t] of last.values()) sum[g] = (sum[g] ?? 0) + t;
    // /proc/stat counts in USER_HZ too.
    const busy = (m1.busy - m0.busy) / 100 / secs;
    const ours = cores(sum.server! + sum.postgres! + sum.client! + sum.driver!);
    return {
      seconds: secs,
      server: cores(sum.server!),
      postgres: cores(sum.postgres!),
      client: cores(sum.client!),
      driver: cores(sum.driver!),
      other: Math.max(0, busy - ours),
      busy,
      steal: (m1.steal - m0.steal) / 100 / secs,
    };
  };
}

// ---------------------------------------------------------------- the wrk mix (pexd)

// The mixed profile is bench/widgets-load.ts's own script (40 add / 40 associate / 5 remove_association
// / 5 remove_widget / 10 read), so both benchmarks send the same requests.
const mixedLua = (n: number, tag: string) => WRK_SCRIPTS.mixed(n, tag);

// ---------------------------------------------------------------- the reference mix (pgbench)

interface RefResult {
  tps: number;
  p50ms: number;
  p99ms: number;
  txns: number;
  failed: number; // failed transactions + aborted clients (pgbench stops a client on an SQL error)
  addOkPerSec: number;
  assocOkPct: number;
  removeOkPct: number;
  script: Record<string, { p50: number; p99: number }>;
}
const SCRIPTS = ["add", "assoc", "remove", "read"] as const;
const pct = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! : NaN);
const fstats = async () => {
  const m = new Map<string, number>();
  for (const line of (await psql("widgets", "select funcname || '=' || calls from pg_stat_user_functions")).split("\n")) {
    const [k, v] = line.split("=");
    if (k) m.set(k, Number(v));
  }
  return m;
};

/** As bench_one.sh mix <clients>: CHECKPOINT, counters, the same pgbench command; plus -l for percentiles. */
async function referenceMix(clients: number, tag: string, seconds: number): Promise<RefResult> {
  await psql("widgets", "checkpoint");
  const before = await fstats();
  const logs = mkdtempSync(join(WORK, "pgbench-log-"));
  const args = [
    join(PGBIN, "pgbench"),
    "-n",
    "-M",
    "prepared",
    "-c",
    String(clients),
    "-j",
    "2",
    "-T",
    String(seconds),
    "-D",
    `nw=${WIDGETS}`,
    "-D",
    "n=0",
    "-D",
    `run=mix${clients}${tag}${Math.floor(Date.now() / 1000)}`,
    "-f",
    "bench/add.sql@4",
    "-f",
    "bench/assoc.sql@4",
    "-f",
    "bench/remove.sql@1",
    "-f",
    "bench/read.sql@1",
    "-l",
    `--log-prefix=${join(logs, "tx")}`,
    "widgets",
  ];
  const p = Bun.spawn(args, { cwd: REF, env: { ...PGENV, PGDATABASE: "widgets" }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  await Bun.sleep(1000); // as bench_one.sh: the statistics collector settles
  const after = await fstats();
  const d = (f: string) => (after.get(f) ?? 0) - (before.get(f) ?? 0);
  const tps = Number(/tps = ([\d.]+) \(without initial/.exec(out)?.[1] ?? NaN);
  if (!Number.isFinite(tps)) throw new Error(`pgbench gave no tps (exit ${code}):\n${err}${out}`);
  // Per-transaction log: client_id transaction_no time(µs) script_no epoch µs [lag]
  const all: number[] = [];
  const per: number[][] = SCRIPTS.map(() => []);
  let failedInLog = 0;
  for (const f of readdirSync(logs)) {
    for (const line of readFileSync(join(logs, f), "utf8").split("\n")) {
      if (!line) continue;
      const c = line.split(" ");
      const us = Number(c[2]);
      if (!Number.isFinite(us)) {
        failedInLog++;
        continue;
      }
      all.push(us / 1000);
      per[Number(c[3])]?.push(us / 1000);
    }
  }
  rmSync(logs, { recursive: true, force: true });
  all.sort((a, b) => a - b);
  for (const xs of per) xs.sort((a, b) => a - b);
  const failed = Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0) + (err.match(/aborted/g)?.length ?? 0);
  if (failed || failedInLog)
    log(`reference c${clients}: ${failed} failed/aborted, ${failedInLog} failed in the log\n${err.slice(0, 2000)}`);
  return {
    tps,
    p50ms: pct(all, 0.5),
    p99ms: pct(all, 0.99),
    txns: all.length,
    failed: failed + failedInLog,
    addOkPerSec: d("add_widget") / seconds,
    assocOkPct: (100 * d("associate_widgets")) / Math.max(1, d("try_associate")),
    removeOkPct: (100 * d("remove_association")) / Math.max(1, d("try_remove_near")),
    script: Object.fromEntries(SCRIPTS.map((s, i) => [s, { p50: pct(per[i]!, 0.5), p99: pct(per[i]!, 0.99) }])),
  };
}

// ---------------------------------------------------------------- setup

const loadRows: Record<string, string | number>[] = [];
const loadStep = (step: string, widgets: number, seconds: number, rate = true) =>
  loadRows.push({
    step,
    widgets: widgets.toLocaleString("en"),
    seconds: Math.round(seconds * 10) / 10,
    "widgets/s": rate ? Math.round(widgets / seconds) : "",
  });

interface Case {
  name: string;
  kind: "ref" | "http";
  clients: number;
}
const CASES: Case[] = [
  ...REF_CLIENTS.map((c) => ({ name: `reference (PL/pgSQL, pgbench -M prepared), mix, ${c} clients`, kind: "ref" as const, clients: c })),
  { name: `pexd on PostgreSQL (HTTP), mix, wrk ${CONNECTIONS} conns`, kind: "http", clients: CONNECTIONS },
  { name: `pexd on SQLite (HTTP), mix, wrk ${CONNECTIONS} conns`, kind: "http", clients: CONNECTIONS },
  { name: `bare Bun.serve baseline, GET /, wrk ${CONNECTIONS} conns`, kind: "http", clients: CONNECTIONS },
];
const [PG_CASE, SQLITE_CASE, BASE_CASE] = CASES.slice(-3).map((c) => c.name) as [string, string, string];

interface Sample extends WrkResult {
  round: number;
  ref?: RefResult;
  cpu: CpuSplit;
  load1: number;
}
const results = new Map<string, Sample[]>(CASES.map((c) => [c.name, []]));
const machineBefore = uptime();
const startedAt = new Date();
let settings = "";
let pgVersion = "";
const sizes: Record<string, string | number>[] = [];
const notes: string[] = [];

try {
  log(`work dir ${WORK}; PostgreSQL port ${PG_PORT}; ${WIDGETS.toLocaleString("en")} widgets; ${uptime()}`);
  if (!KEEP) {
    // If this process dies without its handlers (SIGKILL), stop what it started and remove WORK.
    watchdog = Bun.spawn(
      [
        "setsid",
        "sh",
        "-c",
        `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
for p in $(cat "${PIDS}" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
[ -f "${PGDATA}/postmaster.pid" ] && runuser -u postgres -- "${PGBIN}/pg_ctl" -D "${PGDATA}" -m fast -w stop >/dev/null 2>&1
rm -rf "${WORK}"`,
      ],
      { stdout: "ignore", stderr: "ignore", stdin: "ignore" },
    );
    watchdog.unref();
  }

  // The reference, copied (never run in place) without any data/ or results/ it might hold.
  cpSync(REF_SRC, REF, { recursive: true, filter: (src) => !/\/(data|results)$/.test(src) });
  spawnSync("chmod", ["-R", "u+w,a+rX", REF]);
  mkdirSync(join(REF, "results", "raw"), { recursive: true });
  log("reference: setup.sh (cluster with the design's settings)");
  await sh(["./setup.sh"], { what: "setup.sh", env: { ...PGENV } });
  await sh([join(PGBIN, "createdb"), "widgets"], { what: "createdb widgets" });
  for (const f of ["sql/01_schema.sql", "sql/02_functions.sql", "sql/03_bench_helpers.sql"]) {
    await sh([join(PGBIN, "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", "widgets", "-f", f], { what: `psql -f ${f}` });
  }
  pgVersion = await psql("widgets", "select version()");
  settings = await psql(
    "widgets",
    `select string_agg(name||' = '||setting||coalesce(' '||unit,''), E'\\n' order by name) from pg_settings where name in
  ('shared_buffers','maintenance_work_mem','work_mem','effective_cache_size','wal_buffers','max_connections',
   'synchronous_commit','fsync','max_wal_size','checkpoint_timeout','track_functions','listen_addresses','port')`,
  );

  // Load, as run.sh: the first (up to) 1M through add_widget, COMMIT every 10k calls; the rest
  // set-based in two parallel sessions; VACUUM ANALYZE after each step.
  const n1 = Math.min(WIDGETS, 1_000_000);
  log(`reference: add_widget × ${n1.toLocaleString("en")}`);
  loadStep(
    "reference: add_widget() per widget, 1 session, COMMIT every 10k",
    n1,
    (await timed(() => psql("widgets", "select setseed(0.42)", `call widgets.bench_load(1, ${n1}, 10000)`)))[1],
  );
  const vacuumRef = () => psql("widgets", "vacuum analyze widgets.widgets", "vacuum analyze widgets.slots");
  loadStep("reference: VACUUM ANALYZE", n1, (await timed(vacuumRef))[1], false);
  if (WIDGETS > n1) {
    const mid = Math.floor((n1 + 1 + WIDGETS) / 2);
    log(`reference: bulk to ${WIDGETS.toLocaleString("en")}`);
    const [, s] = await timed(() =>
      Promise.all([
        psql("widgets", `call widgets.bench_load_bulk(${n1 + 1}, ${mid})`),
        psql("widgets", `call widgets.bench_load_bulk(${mid + 1}, ${WIDGETS})`),
      ]),
    );
    loadStep("reference: set-based INSERT…SELECT, 2 sessions (bypasses add_widget)", WIDGETS - n1, s);
    loadStep("reference: VACUUM ANALYZE", WIDGETS, (await timed(vacuumRef))[1], false);
  }

  // pexd's database in the same cluster: migrations applied by the seeder, COPY, then VACUUM ANALYZE.
  await sh([join(PGBIN, "createdb"), "pexd"], { what: "createdb pexd" });
  log(`pexd/PostgreSQL: seed-postgres.ts --widgets ${WIDGETS}`);
  const [seedPg, seedPgSecs] = await timed(() =>
    sh([process.execPath, "run", "scripts/seed-postgres.ts", "--widgets", String(WIDGETS), "--seed", "1"], {
      cwd: ROOT,
      env: { ...PGENV, PEXD_DATABASE_URL: pgUrl("pexd") },
      what: "seed-postgres.ts",
    }),
  );
  loadStep("pexd/PostgreSQL: scripts/seed-postgres.ts (COPY, 2 connections)", WIDGETS, seedPgSecs);
  log(`  ${seedPg.out.trim()}`);
  loadStep("pexd/PostgreSQL: VACUUM ANALYZE", WIDGETS, (await timed(() => psql("pexd", "vacuum analyze")))[1], false);

  // pexd's SQLite data dir: seeded here, or a copy of an already seeded one.
  const sqliteDir = join(WORK, "sqlite");
  mkdirSync(sqliteDir);
  if (SQLITE_SRC) {
    log(`pexd/SQLite: copying ${SQLITE_SRC}`);
    const [, s] = await timed(async () => {
      for (const f of readdirSync(SQLITE_SRC)) if (/^pexd\.sqlite(-wal|-shm)?$/.test(f)) cpSync(join(SQLITE_SRC, f), join(sqliteDir, f));
    });
    loadStep(`pexd/SQLite: copy of ${SQLITE_SRC}`, WIDGETS, s, false);
  } else {
    log(`pexd/SQLite: seed.ts --widgets ${WIDGETS}`);
    const [, s] = await timed(() =>
      sh([process.execPath, "run", "scripts/seed.ts", "--widgets", String(WIDGETS), "--seed", "1"], {
        cwd: ROOT,
        env: { ...process.env, PEXD_DATA_DIR: sqliteDir } as Record<string, string>,
        what: "seed.ts",
      }),
    );
    loadStep("pexd/SQLite: scripts/seed.ts (multi-row INSERTs, journal off)", WIDGETS, s);
  }

  for (const [label, q] of [
    ["reference database `widgets`", "select pg_database_size('widgets')"],
    ["pexd database `pexd`", "select pg_database_size('pexd')"],
  ] as const) {
    sizes.push({ database: label, "size MiB": Math.round(Number(await psql("widgets", q)) / 2 ** 20) });
  }
  const sqliteBytes = readdirSync(sqliteDir)
    .filter((f) => f.startsWith("pexd.sqlite"))
    .reduce((s, f) => s + statSync(join(sqliteDir, f)).size, 0);
  sizes.push({ database: "pexd SQLite file (+ WAL)", "size MiB": Math.round(sqliteBytes / 2 ** 20) });

  // The servers, started once and kept for every round (as widgets-load.ts does).
  const env = { PEXD_LOG_LEVEL: "warn", PEXD_RELAY_PORT: "0" };
  const pexdPg = track(await startPexd({ ...env, PEXD_DATABASE_URL: pgUrl("pexd") }));
  const pexdSqlite = track(await startPexd(env, sqliteDir));
  const base = track(await startBaseline());
  log(`pexd/PostgreSQL ${pexdPg.url}, pexd/SQLite ${pexdSqlite.url}, baseline ${base.url}`);

  const runCase = async (c: Case, round: number, seconds: number): Promise<Sample> => {
    await psql("widgets", "checkpoint"); // every case starts with the cluster's dirty pages written
    await Bun.sleep(1000);
    const load1 = loadavg()[0]!;
    const server = c.name === PG_CASE ? pexdPg : c.name === SQLITE_CASE ? pexdSqlite : c.name === BASE_CASE ? base : null;
    const stopCpu = watchCpu(server?.pid ?? null);
    if (c.kind === "ref") {
      const ref = await referenceMix(c.clients, `r${round}`, seconds);
      return {
        round,
        rps: ref.tps,
        p50ms: ref.p50ms,
        p99ms: ref.p99ms,
        requests: ref.txns,
        errors: ref.failed,
        non2xx: 0,
        ref,
        cpu: stopCpu(),
        load1,
      };
    }
    const tag = `b${Date.now().toString(36)}${round}-`;
    const w: WrkResult = await wrk({
      url: server!.url + "/",
      duration: seconds,
      connections: c.clients,
      ...(c.name === BASE_CASE ? {} : { lua: mixedLua(WIDGETS, tag) }),
    });
    return { round, ...w, cpu: stopCpu(), load1 };
  };

  if (WARMUP > 0) {
    for (const c of CASES.filter((x) => x.name !== BASE_CASE)) {
      log(`warm-up ${WARMUP}s: ${c.name}`);
      await runCase(c, 0, WARMUP);
    }
  }
  for (let r = 1; r <= ROUNDS; r++) {
    for (const c of CASES) {
      const s = await runCase(c, r, DURATION);
      results.get(c.name)!.push(s);
      log(
        `round ${r}: ${c.name}: ${Math.round(s.rps)}/s p50 ${s.p50ms.toFixed(2)} p99 ${s.p99ms.toFixed(2)} ms, errors ${s.errors}, non-2xx ${s.non2xx}; ` +
          `cores: server ${s.cpu.server.toFixed(2)} pg ${s.cpu.postgres.toFixed(2)} client ${s.cpu.client.toFixed(2)} other ${s.cpu.other.toFixed(2)} steal ${s.cpu.steal.toFixed(2)}; load ${s.load1.toFixed(2)}`,
      );
    }
  }
  for (const [label, q] of [
    ["reference database `widgets`, after the runs", "select pg_database_size('widgets')"],
    ["pexd database `pexd`, after the runs", "select pg_database_size('pexd')"],
  ] as const) {
    sizes.push({ database: label, "size MiB": Math.round(Number(await psql("widgets", q)) / 2 ** 20) });
  }
  const assocRef = await psql("widgets", "select count(*) from widgets.slots where association is not null");
  notes.push(`reference slot rows with an association after the runs: ${Number(assocRef).toLocaleString("en")}`);
  await untrack(pexdPg);
  await untrack(pexdSqlite);
  await untrack(base);
} catch (e) {
  log(`FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  await cleanup();
  process.exit(1);
}
const machineAfter = uptime();
await cleanup();

// ---------------------------------------------------------------- report

const med = (name: string, f: (s: Sample) => number) => median(results.get(name)!.map(f));
const r2 = (x: number) => Math.round(x * 100) / 100;
const refNames = CASES.filter((c) => c.kind === "ref").map((c) => c.name);
const bestRef = refNames.reduce((a, b) => (med(b, (s) => s.rps) > med(a, (s) => s.rps) ? b : a));
const refTps = med(bestRef, (s) => s.rps);
const baseRps = med(BASE_CASE, (s) => s.rps);
const spread = (name: string) => {
  const xs = results.get(name)!.map((s) => s.rps);
  return `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;
};

const main = CASES.map((c) => {
  const xs = results.get(c.name)!;
  const reqs = xs.reduce((s, x) => s + x.requests, 0);
  return {
    case: c.name,
    "TPS / req/s": Math.round(med(c.name, (s) => s.rps)),
    "spread (min–max)": spread(c.name),
    "p50 ms": r2(med(c.name, (s) => s.p50ms)),
    "p99 ms": r2(med(c.name, (s) => s.p99ms)),
    errors: xs.reduce((s, x) => s + x.errors, 0),
    "non-2xx %": c.kind === "ref" || c.name === BASE_CASE ? "" : r2((100 * xs.reduce((s, x) => s + x.non2xx, 0)) / Math.max(1, reqs)),
    "× reference": c.name === BASE_CASE ? "" : r2(med(c.name, (s) => s.rps) / refTps),
    "× baseline": r2(med(c.name, (s) => s.rps) / baseRps),
  };
});
const perRound = CASES.flatMap((c) =>
  results.get(c.name)!.map((s) => ({
    case: c.name,
    round: s.round,
    "TPS / req/s": Math.round(s.rps),
    "p50 ms": r2(s.p50ms),
    "p99 ms": r2(s.p99ms),
    errors: s.errors,
    "non-2xx": c.kind === "ref" ? "" : s.non2xx,
    "load avg (1 min) before": r2(s.load1),
  })),
);
const cpu = CASES.map((c) => {
  const m = (f: (x: CpuSplit) => number) => r2(med(c.name, (s) => f(s.cpu)));
  const perReq = med(c.name, (s) => ((s.cpu.server + s.cpu.postgres + s.cpu.client) * 1e6) / Math.max(1, s.rps));
  return {
    case: c.name,
    "server (pexd/Bun) cores": c.kind === "ref" ? "" : m((x) => x.server),
    "postgres cores": m((x) => x.postgres),
    "client (wrk/pgbench) cores": m((x) => x.client),
    "other processes cores": m((x) => x.other),
    "machine busy cores": m((x) => x.busy),
    "steal cores": m((x) => x.steal),
    "CPU µs per request (server+pg+client)": Math.round(perReq),
  };
});
const refDetail = refNames.map((name) => {
  const xs = results.get(name)!.map((s) => s.ref!);
  const m = (f: (x: RefResult) => number) => median(xs.map(f));
  return {
    case: name,
    "add_widget ok/s": Math.round(m((x) => x.addOkPerSec)),
    "associate ok %": Math.round(m((x) => x.assocOkPct)),
    "remove_association ok %": Math.round(m((x) => x.removeOkPct)),
    ...Object.fromEntries(SCRIPTS.map((s) => [`${s} p50/p99 ms`, `${r2(m((x) => x.script[s]!.p50))} / ${r2(m((x) => x.script[s]!.p99))}`])),
  };
});
const pgRatio = med(PG_CASE, (s) => s.rps) / refTps;
const pgP99 = med(PG_CASE, (s) => s.p99ms);
const sqliteRatio = med(SQLITE_CASE, (s) => s.rps) / refTps;
/** pexd's figure over the reference's (best client count) in the same round: drift on the shared machine cancels out. */
const paired = (name: string) => {
  const ref = results.get(bestRef)!;
  const xs = results.get(name)!.map((s, i) => s.rps / ref[i]!.rps);
  return `${xs.map(r2).join(", ")} (median ${r2(median(xs))})`;
};

const report = [
  `# Widgets mixed profile at ${WIDGETS.toLocaleString("en")} widgets: pexd vs the PostgreSQL reference design`,
  "",
  `Run ${startedAt.toISOString()} with \`${COMMAND}\` (${ROUNDS} interleaved rounds × ${DURATION} s, ${WARMUP ? `${WARMUP} s unrecorded warm-up of each database case first` : "no warm-up"}; medians).`,
  "",
  `- Targets: pexd on PostgreSQL over HTTP ≥ 1.0× the reference with p99 < 20 ms → **${r2(pgRatio)}×, p99 ${r2(pgP99)} ms (${pgRatio >= 1 && pgP99 < 20 ? "met" : "not met"})**; pexd on SQLite ≥ 2× → **${r2(sqliteRatio)}× (${sqliteRatio >= 2 ? "met" : "not met"})**.`,
  `- "× reference" divides by the reference's best median (${bestRef.replace(/^reference.*mix, /, "")}: ${Math.round(refTps)} TPS).`,
  `- The same ratio round by round (each pexd run over the reference run of that round): pexd on PostgreSQL ${paired(PG_CASE)}; pexd on SQLite ${paired(SQLITE_CASE)}.`,
  "",
  markdownTable(main),
  "",
  "## CPU split (medians; cores = CPU seconds per second, sampled from /proc during each run)",
  "",
  markdownTable(cpu),
  "",
  "## Reference outcomes (from pg_stat_user_functions) and per-script latency",
  "",
  markdownTable(refDetail),
  "",
  "## Load",
  "",
  markdownTable(loadRows),
  "",
  markdownTable(sizes),
  "",
  ...notes.map((n) => `- ${n}`),
  "",
  "## Every run",
  "",
  markdownTable(perRound),
  "",
  "## Setup",
  "",
  `- ${pgVersion}; one cluster for both databases, the reference's setup.sh settings:`,
  "",
  "```",
  settings,
  "```",
  "",
  `- machine before: \`${machineBefore}\``,
  `- machine after:  \`${machineAfter}\``,
  "",
].join("\n");

console.log(report);
if (OUT) {
  writeFileSync(OUT, report);
  log(`wrote ${OUT}`);
}
