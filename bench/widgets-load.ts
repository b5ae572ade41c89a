// HTTP load on the widgets routes (wrk -t1 -c50 keep-alive) against a bare Bun.serve baseline in
// the same run: each route alone and the mixed 40% add / 40% associate / 10% remove / 10% read
// profile, on a small database (10k seeded widgets) and, with --data-dir, on the 10M database.
// Usage: bun run bench/widgets-load.ts [--data-dir /var/tmp/pexd-10m --widgets 10000000 [--skip-small]] [--duration 5] [--rounds 3] [--cases add,read]
// The seeded serial numbers are s1-<zero-padded index> (scripts/seed.ts --seed 1).
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseCli } from "../scripts/lib/cli.ts";
import { tempDir } from "../test/helpers/pexd.ts";
import { haveWrk, markdownTable, median, startBaseline, startPexd, wrkCpu, type WrkResult } from "./lib.ts";
import { record } from "./targets.ts";

const SMALL_N = 10_000;

/** The command line of this suite (bench/load.ts and bench/run.ts pass the same options through). */
export const WIDGETS_OPTIONS = {
  "data-dir": { type: "string", arg: "DIR", help: "also load this seeded data dir (scripts/seed.ts --widgets N --seed 1)" },
  widgets: { type: "number", integer: true, min: 1, default: 10_000_000, help: "widgets seeded in --data-dir" },
  "skip-small": { type: "boolean", help: `load only --data-dir, not the ${SMALL_N.toLocaleString("en")}-widget database` },
  duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per wrk run" },
  rounds: { type: "number", integer: true, min: 1, default: 3, help: "rounds, median" },
  cases: { type: "string", arg: "LIST", help: "comma-separated: add,read,page,associate,mixed (default all)" },
} as const;
export interface WidgetsLoadOptions {
  dataDir?: string;
  widgets?: number;
  skipSmall?: boolean;
  duration?: number;
  rounds?: number;
  cases?: string[];
}

const pad = (n: number) => String(Math.max(n - 1, 0)).length;

/** Lua preamble: a per-run unique prefix (so add_widget never collides) and a seeded-sn picker. */
const pre = (n: number, tag: string) => `
local tag = "${tag}"
local n = ${n}
local fmt = "s1-%0${pad(n)}d"
local i = 0
math.randomseed(${Date.now() % 1e9})
local function seeded() return string.format(fmt, math.random(0, n - 1)) end
local hdr = { ["Content-Type"] = "application/json" }
local function post(path, body) return wrk.format("POST", path, hdr, body) end
`;

/** The wrk Lua scripts per case (also the mixed profile of bench/widgets-pg-vs-reference.ts). */
export const SCRIPTS = {
  add: (n: number, tag: string) =>
    pre(n, tag) +
    `request = function() i = i + 1
  return post("/rpc/add_widget", '{"widget_sn":"' .. tag .. i .. '","widget_name":"bench","slots":["P","R","Q"]}') end`,
  read: (n: number, tag: string) => pre(n, tag) + `request = function() return wrk.format("GET", "/widgets/" .. seeded()) end`,
  page: (n: number, tag: string) =>
    pre(n, tag) + `request = function() return wrk.format("GET", "/widgets?limit=100&after=" .. seeded()) end`,
  // Seeded widgets picked at random: the answer is 204 or a 409/404 refusal, each a full transaction.
  associate: (n: number, tag: string) =>
    pre(n, tag) +
    `local ports = {"P","R","Q"}
request = function()
  return post("/rpc/associate_widgets", '{"widget1_sn":"' .. seeded() .. '","widget2_sn":"' .. seeded() .. '","port":"' .. ports[math.random(1,3)] .. '"}') end`,
  // Mixed: adds new 3-slot widgets; associates pairs of this run's earlier widgets (committed
  // long before: 200+ requests back), removes older ones or their associations, reads seeded ones.
  mixed: (n: number, tag: string) =>
    pre(n, tag) +
    `local ports = {"P","R","Q"}
local adds = 0
request = function()
  local x = math.random()
  if x < 0.4 or adds < 1000 then
    adds = adds + 1
    return post("/rpc/add_widget", '{"widget_sn":"' .. tag .. adds .. '","widget_name":"bench","slots":["P","R","Q"]}')
  elseif x < 0.8 then
    local a = math.random(1, adds - 300)
    return post("/rpc/associate_widgets", '{"widget1_sn":"' .. tag .. a .. '","widget2_sn":"' .. tag .. (a + math.random(1, 200)) .. '","port":"' .. ports[math.random(1,3)] .. '"}')
  elseif x < 0.85 then
    local a = math.random(1, adds - 300)
    return post("/rpc/remove_association", '{"widget1_sn":"' .. tag .. a .. '","widget2_sn":"' .. tag .. (a + math.random(1, 200)) .. '","port":"' .. ports[math.random(1,3)] .. '"}')
  elseif x < 0.9 then
    return post("/rpc/remove_widget", '{"widget_sn":"' .. tag .. math.random(1, adds - 300) .. '"}')
  else
    return wrk.format("GET", "/widgets/" .. seeded())
  end
end`,
} as const;
export const WIDGETS_CASES = Object.keys(SCRIPTS);

/** What is wrong with these options (checked before anything starts), or null. */
export function widgetsOptionsProblem(o: WidgetsLoadOptions): string | null {
  const unknown = o.cases?.filter((c) => !WIDGETS_CASES.includes(c)) ?? [];
  if (o.cases && (o.cases.length === 0 || unknown.length))
    return `--cases: unknown case(s) ${unknown.join(",")}; have ${WIDGETS_CASES.join(",")}`;
  if (o.skipSmall && !o.dataDir) return "--skip-small needs --data-dir (it would load nothing)";
  return null;
}

interface Row extends Record<string, string | number> {
  database: string;
  case: string;
  "req/s": number;
  "p50 ms": number;
  "p99 ms": number;
  "non-2xx %": number;
  "× baseline": number;
  "RSS MiB": number;
  "CPU µs/req": number;
}

async function seedSmall(dir: string) {
  const p = Bun.spawn([process.execPath, join(import.meta.dir, "../scripts/seed.ts"), "--widgets", String(SMALL_N), "--seed", "1"], {
    env: { ...Bun.env, PEXD_DATA_DIR: dir },
    stdout: "ignore",
    stderr: "ignore",
  });
  if ((await p.exited) !== 0) throw new Error("seed failed");
}

const dbSize = (dir: string) =>
  ["pexd.sqlite", "pexd.sqlite-wal"].reduce((s, f) => s + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);

/** The widgets targets at 10M (bench/targets.ts), from the rows of the 10M database. */
function recordTenMillion(rows: Row[], rounds: number): void {
  const row = (prefix: string) => rows.find((r) => r.case.startsWith(prefix));
  const say = (r: Row) => `${r["req/s"]} req/s, p99 ${r["p99 ms"]} ms, ${r["CPU µs/req"]} µs CPU/req, median of ${rounds}`;
  const read = row("GET /widgets/{sn}");
  if (read) record("widgets-read-10m", read["× baseline"], say(read));
  const mixed = row("mixed");
  if (mixed) {
    record("widgets-mix-10m", mixed["× baseline"], say(mixed));
    record("widgets-mix-10m-p99", mixed["p99 ms"]);
    record("widgets-mix-10m-rps", mixed["req/s"]);
  }
  const add = row("POST /rpc/add_widget");
  if (add) {
    record("widgets-add-10m", add["× baseline"], say(add));
    record("widgets-add-10m-p99", add["p99 ms"]);
  }
}

export async function widgetsLoad(opts: WidgetsLoadOptions = {}): Promise<Row[]> {
  const duration = opts.duration ?? WIDGETS_OPTIONS.duration.default;
  const rounds = opts.rounds ?? WIDGETS_OPTIONS.rounds.default;
  const bigDir = opts.dataDir;
  const bigN = opts.widgets ?? WIDGETS_OPTIONS.widgets.default;
  const only = opts.cases;
  const skipSmall = opts.skipSmall ?? false;
  if (!haveWrk()) throw new Error("wrk not installed (apt-get install wrk)");
  const smallDir = tempDir("pexd-widgets-bench-");
  await seedSmall(smallDir);
  const dbs: [string, string, number][] = skipSmall ? [] : [["10k widgets", smallDir, SMALL_N]];
  if (bigDir) dbs.push([`${(bigN / 1e6).toFixed(0)}M widgets`, bigDir, bigN]);
  const rows: Row[] = [];
  const base = await startBaseline();
  try {
    for (const [label, dir, n] of dbs) {
      // The default configuration (log level info: an access line per request).
      const srv = await startPexd({}, dir);
      try {
        const res = new Map<string, (WrkResult & { cpuUs: number })[]>();
        const cases: [string, string, string][] = [
          ["bare Bun.serve baseline", "", ""],
          ["POST /rpc/add_widget (unique sn)", "/", "add"],
          ["GET /widgets/{sn} (random seeded)", "/", "read"],
          ["GET /widgets?limit=100&after=(random)", "/", "page"],
          ["POST /rpc/associate_widgets (random seeded pair)", "/", "associate"],
          ["mixed 40 add / 40 associate / 10 remove / 10 read", "/", "mixed"],
        ].filter(([, , script]) => !script || !only || only.includes(script)) as [string, string, string][];
        for (let r = 0; r < rounds; r++) {
          for (const [name, path, script] of cases) {
            const tag = `b${Date.now().toString(36)}${r}-`;
            const lua = script ? SCRIPTS[script as keyof typeof SCRIPTS](n, tag) : undefined;
            const out = await wrkCpu(script ? srv : base, { path, duration, connections: 50, ...(lua ? { lua } : {}) });
            res.set(name, [...(res.get(name) ?? []), out]);
          }
        }
        const baseRps = median(res.get("bare Bun.serve baseline")!.map((x) => x.rps));
        for (const [name] of cases) {
          const xs = res.get(name)!;
          const rps = median(xs.map((x) => x.rps));
          const reqs = xs.reduce((s, x) => s + x.requests, 0);
          rows.push({
            database: label,
            case: name,
            "req/s": Math.round(rps),
            "p50 ms": median(xs.map((x) => x.p50ms)),
            "p99 ms": median(xs.map((x) => x.p99ms)),
            "non-2xx %": name.startsWith("bare") ? 0 : (100 * xs.reduce((s, x) => s + x.non2xx, 0)) / Math.max(reqs, 1),
            "× baseline": rps / baseRps,
            "RSS MiB": Math.round((name.startsWith("bare") ? base.rssKiB() : srv.rssKiB()) / 1024),
            "CPU µs/req": Math.round(median(xs.map((x) => x.cpuUs)) * 10) / 10,
          });
        }
        if (n >= 10_000_000)
          recordTenMillion(
            rows.filter((r) => r.database === label),
            rounds,
          );
        console.error(`${label}: database ${(dbSize(dir) / 2 ** 20).toFixed(0)} MiB after the runs`);
      } finally {
        await srv.stop();
      }
    }
  } finally {
    await base.stop();
    rmSync(smallDir, { recursive: true, force: true });
  }
  return rows;
}

/** The suite's options from the parsed command line (the same names in bench/load.ts and bench/run.ts). */
export function widgetsOptionsFrom(v: {
  "data-dir"?: string;
  widgets?: number;
  "skip-small"?: boolean;
  duration?: number;
  rounds?: number;
  cases?: string;
}): WidgetsLoadOptions {
  return {
    dataDir: v["data-dir"],
    widgets: v.widgets,
    skipSmall: v["skip-small"],
    duration: v.duration,
    rounds: v.rounds,
    cases: v.cases?.split(",").filter(Boolean),
  };
}

if (import.meta.main) {
  const { values, fail } = parseCli({
    usage: "bun run bench/widgets-load.ts [options]",
    about: "HTTP load on the widgets routes (wrk -t1 -c50) beside a bare Bun.serve baseline measured in the same run.",
    options: WIDGETS_OPTIONS,
  });
  const opts = widgetsOptionsFrom(values);
  const problem = widgetsOptionsProblem(opts);
  if (problem) fail(problem);
  const rows = await widgetsLoad(opts);
  console.log(markdownTable(rows));
}
