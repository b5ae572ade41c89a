// The PostgreSQL widgets adapter in-process (no HTTP): 50 closed-loop callers running the mix
// 40% add / 40% associate / 10% get / 10% remove widget, reporting ops/s and latency percentiles.
// Adds create 3-slot widgets (P, R, Q) with this run's prefix; associates pair one of this run's
// widgets with one of the 200 after it; removes take an older one of this run's; gets read random
// seeded widgets (s1-<index>).
// Usage:
//   bun run bench/pg-widgets.bench.ts [--widgets 100000] [--duration 10] [--callers 50] [--configs 2x16,4x16,off]
//     starts a throwaway server and seeds --widgets widgets (scripts/seed-postgres.ts)
//   PEXD_DATABASE_URL=postgres://… bun run bench/pg-widgets.bench.ts --widgets 10000000 --seeded
//     uses a database already seeded with `--widgets N --seed 1`
// A config is <batches in flight>x<pool size>, or off (no group commit: one call per operation).
import type { SQL } from "bun";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseCli } from "../scripts/lib/cli.ts";
import { openPostgres } from "../src/runtime/bun/postgres.ts";
import { PostgresWidgetStore, type PostgresWidgetStoreOptions } from "../src/storage/postgres/widget.postgres.ts";
import { type PortType, WidgetStoreError } from "../src/storage/widget.port.ts";
import { startPostgres, type PgServer } from "../test/helpers/postgres.ts";
import { markdownTable } from "./lib.ts";

const { values, fail } = parseCli({
  usage: "bun run bench/pg-widgets.bench.ts [options]",
  about: "The PostgreSQL widgets adapter in process: closed-loop callers on the 40/40/10/10 mix, ops/s and latency.",
  options: {
    widgets: { type: "number", integer: true, min: 1, default: 100_000, help: "seeded widgets (seeded here unless --seeded)" },
    duration: { type: "number", min: 1, default: 10, arg: "S", help: "seconds per config" },
    callers: { type: "number", integer: true, min: 1, default: 50, help: "concurrent closed-loop callers" },
    configs: {
      type: "string",
      arg: "LIST",
      default: "2x16,4x16,off",
      help: "comma-separated: <batches in flight>x<pool size>, or off (no group commit)",
    },
    seeded: { type: "boolean", help: "use the database of PEXD_DATABASE_URL, already seeded with --widgets N --seed 1" },
  },
  notes:
    "Without --seeded (or without PEXD_DATABASE_URL) a throwaway PostgreSQL server is started and seeded\n" +
    "with scripts/seed-postgres.ts --widgets N.",
});
const { widgets, callers, seeded } = values;
const duration = values.duration * 1000;
const configs = values.configs.split(",");
const badConfigs = configs.filter((c) => !/^(off|[1-9]\d*x[1-9]\d*)$/.test(c));
if (badConfigs.length) fail(`--configs: not <in flight>x<pool> or off: ${badConfigs.join(",")}`);

let server: PgServer | null = null;
let url = Bun.env.PEXD_DATABASE_URL;
if (!url || !seeded) {
  server = await startPostgres({ settings: { shared_buffers: "1GB", max_wal_size: "4GB" } });
  url = await server.createDatabase();
  const t0 = performance.now();
  const seed = Bun.spawn([process.execPath, join(import.meta.dir, "../scripts/seed-postgres.ts"), "--widgets", String(widgets)], {
    env: { ...Bun.env, PEXD_DATABASE_URL: url },
    stdout: "ignore",
    stderr: "ignore",
  });
  if ((await seed.exited) !== 0) throw new Error("seed failed");
  console.error(`seeded ${widgets.toLocaleString("en")} widgets in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

const digits = String(Math.max(widgets - 1, 0)).length;
const seededSn = () => `s1-${String(Math.floor(Math.random() * widgets)).padStart(digits, "0")}`;
const PORTS: PortType[] = ["P", "R", "Q"];

/**
 * CPU ticks used so far by each process of the postgres OS user (Linux /proc; the server is local),
 * so that a figure per operation survives a machine shared with other work.
 */
function postgresCpu(): Map<string, number> {
  const out = new Map<string, number>();
  let uid: number;
  try {
    uid = Number(Bun.spawnSync(["id", "-u", "postgres"]).stdout.toString().trim());
  } catch {
    return out;
  }
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (statSync(`/proc/${pid}`).uid !== uid) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(pid, Number(f[11]) + Number(f[12])); // utime + stime
    } catch {}
  }
  return out;
}

/** CPU seconds the postgres processes used between two snapshots (a process gone by the second is not counted). */
function cpuSecondsBetween(a: Map<string, number>, b: Map<string, number>): number {
  let ticks = 0;
  for (const [pid, t] of b) ticks += t - (a.get(pid) ?? 0);
  return ticks / 100; // USER_HZ
}

interface Row extends Record<string, string | number> {
  config: string;
  "ops/s": number;
  "p50 ms": number;
  "p99 ms": number;
  "max ms": number;
  "refused %": number;
  "batches/s": number;
  "ops/batch": number;
  retries: number;
  "server CPU µs/op": number;
  "client CPU µs/op": number;
}

async function run(config: string): Promise<Row> {
  const off = config === "off";
  const [inFlight, pool] = off ? [0, 16] : config.split("x").map(Number);
  const sql: SQL = await openPostgres(url!, { max: pool ?? 16 });
  const opts: PostgresWidgetStoreOptions = off ? { groupCommit: false } : { maxInFlight: inFlight ?? 2 };
  const store = await PostgresWidgetStore.open(sql, opts);
  const tag = `pb${Date.now().toString(36)}-`;
  let adds = 0;
  // Warm-up: the first 1000 adds, so associates and removes have this run's widgets to work on.
  await Promise.all(Array.from({ length: 1000 }, () => store.add({ sn: `${tag}${++adds}`, name: "bench", slots: ["P", "R", "Q"] })));
  const lat: number[] = [];
  let refused = 0;
  let failed = 0;
  const b0 = store.batches;
  const end = performance.now() + duration;
  const caller = async () => {
    while (performance.now() < end) {
      const x = Math.random();
      const t = performance.now();
      let p: Promise<unknown>;
      if (x < 0.4) p = store.add({ sn: `${tag}${++adds}`, name: "bench", slots: ["P", "R", "Q"] });
      else if (x < 0.8) {
        const a = 1 + Math.floor(Math.random() * (adds - 300));
        p = store.associate(`${tag}${a}`, `${tag}${a + 1 + Math.floor(Math.random() * 200)}`, PORTS[Math.floor(Math.random() * 3)]!);
      } else if (x < 0.9) p = store.get(seededSn());
      else p = store.remove(`${tag}${1 + Math.floor(Math.random() * (adds - 300))}`);
      try {
        await p;
      } catch (e) {
        if (e instanceof WidgetStoreError) refused++;
        else if (failed++ < 3) console.error(e);
      }
      lat.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  const pg0 = postgresCpu();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: callers }, caller));
  const secs = (performance.now() - t0) / 1000;
  const pgCpu = cpuSecondsBetween(pg0, postgresCpu());
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  await sql.close();
  lat.sort((a, b) => a - b);
  const q = (f: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * f))]! * 100) / 100;
  const batches = store.batches - b0;
  if (failed) console.error(`${config}: ${failed} operations failed with other errors`);
  return {
    config: off ? "no group commit, pool 16" : `${inFlight} in flight, pool ${pool}`,
    "ops/s": Math.round(lat.length / secs),
    "p50 ms": q(0.5),
    "p99 ms": q(0.99),
    "max ms": q(1),
    "refused %": Math.round((1000 * refused) / lat.length) / 10,
    "batches/s": Math.round(batches / secs),
    "ops/batch": Math.round((10 * lat.length * 0.9) / Math.max(batches, 1)) / 10,
    retries: store.retries,
    "server CPU µs/op": Math.round((pgCpu * 1e6) / lat.length),
    "client CPU µs/op": Math.round((cpu.user + cpu.system) / lat.length),
  };
}

const rows: Row[] = [];
for (const c of configs) rows.push(await run(c));
console.log(`\n${widgets.toLocaleString("en")} widgets, ${callers} callers, ${duration / 1000} s per config\n`);
console.log(markdownTable(rows));
await server?.stop();
