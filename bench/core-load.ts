// HTTP load on the core routes against a bare Bun.serve baseline measured in the same run:
// access logging on vs off, /current at index 0 and 100,000, and /next with group commit.
// Usage: bun run bench/core-load.ts [--duration 5] [--rounds 3]
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { parseCli } from "../scripts/lib/cli.ts";
import { tempDir } from "../test/helpers/pexd.ts";
import { record, recordBaseline } from "./targets.ts";
import { ab, haveAb, haveWrk, markdownTable, median, startBaseline, startPexd, wrkCpu, type WrkResult } from "./lib.ts";

/** The command line of this suite (bench/load.ts and bench/run.ts pass the same options through). */
export const CORE_OPTIONS = {
  duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per wrk run" },
  rounds: { type: "number", integer: true, min: 1, default: 3, help: "interleaved rounds, median" },
} as const;
export interface CoreLoadOptions {
  duration?: number;
  rounds?: number;
}

const ALTERNATE = `local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", (i % 2 == 0) and "/previous" or "/next")
end`;

export interface Row extends Record<string, string | number> {
  case: string;
  "req/s": number;
  "p50 ms": number;
  "p99 ms": number;
  "× baseline": number;
  "RSS MiB": number;
  "CPU µs/req": number;
}

export async function coreLoad(opts: CoreLoadOptions = {}): Promise<Row[]> {
  const duration = opts.duration ?? CORE_OPTIONS.duration.default;
  const rounds = opts.rounds ?? CORE_OPTIONS.rounds.default;
  if (!haveWrk()) throw new Error("wrk not installed (apt-get install wrk)");
  const base = await startBaseline();
  const info = await startPexd({ PEXD_LOG_LEVEL: "info" });
  const quiet = await startPexd({ PEXD_LOG_LEVEL: "warn" });
  // A server whose counter sits at index 100,000.
  const bigDir = tempDir();
  const seed = await startPexd({}, bigDir);
  await seed.pexd.stop();
  const db = new Database(join(bigDir, "pexd.sqlite"));
  db.exec("UPDATE fib_state SET idx = 100000 WHERE id = 1");
  db.close();
  const big = await startPexd({ PEXD_LOG_LEVEL: "warn" }, bigDir);
  // GET /next from 0 at the default log level: the index (and the value's length) grows all run.
  const steps = await startPexd({});

  // Idle RSS, before any load: a freshly started pexd (default settings) against the bare server.
  await Bun.sleep(500);
  const idle = { base: base.rssKiB(), pexd: info.rssKiB() };
  const cases: [string, { url: string; pid: number; rssKiB(): number }, string, string?][] = [
    ["bare Bun.serve baseline", base, "/"],
    ["GET /health (log info)", info, "/health"],
    ["GET /current (log info)", info, "/current"],
    ["GET /current (log warn: no access log)", quiet, "/current"],
    ["GET /current at index 100,000 (20,899-digit value)", big, "/current"],
    // Alternating keeps the index (and so the value's size) small: this measures the commit path.
    ["POST /next + /previous alternating (group commit, log warn)", quiet, "/next", ALTERNATE],
    ["GET /next from index 0, growing (group commit, log info)", steps, "/next"],
  ];
  const results = new Map<string, (WrkResult & { cpuUs: number })[]>();
  // Interleave rounds so drift on this shared machine hits every case alike.
  for (let r = 0; r < rounds; r++) {
    await fetch(steps.url + "/reset", { method: "POST" });
    for (const [name, srv, path, lua] of cases) {
      const res = await wrkCpu(srv, { path, duration, connections: 50, ...(lua ? { lua } : {}) });
      if (res.non2xx || res.errors) console.error(`${name}: ${res.non2xx} non-2xx, ${res.errors} socket errors`);
      results.set(name, [...(results.get(name) ?? []), res]);
    }
  }
  const baseRps = median(results.get(cases[0]![0])!.map((x) => x.rps));
  const rows: Row[] = cases.map(([name, srv]) => {
    const rs = results.get(name)!;
    const rps = median(rs.map((x) => x.rps));
    return {
      case: name,
      "req/s": Math.round(rps),
      "p50 ms": median(rs.map((x) => x.p50ms)),
      "p99 ms": median(rs.map((x) => x.p99ms)),
      "× baseline": Math.round((rps / baseRps) * 100) / 100,
      "RSS MiB": Math.round(srv.rssKiB() / 102.4) / 10,
      "CPU µs/req": Math.round(median(rs.map((x) => x.cpuUs)) * 10) / 10,
    };
  });
  const show = (name: string) => {
    const r = rows.find((x) => x.case === name)!;
    return `${r["req/s"]} req/s, p99 ${r["p99 ms"]} ms, median of ${rounds}`;
  };
  // Unrounded (the table's column is rounded to 0.01, which would call 0.595 met against ≥ 0.6).
  const ratio = (name: string) => median(results.get(name)!.map((x) => x.rps)) / baseRps;
  recordBaseline("bare Bun.serve (wrk -c50)", baseRps, "req/s");
  record("current", ratio("GET /current (log info)"), show("GET /current (log info)"));
  const growing = "GET /next from index 0, growing (group commit, log info)";
  record("next-from-0", ratio(growing), show(growing));
  // The seeds' own benchmark: ab -c 10 -n 10000 on / (the OpenAPI document), new connections.
  if (haveAb()) {
    const abBase = [] as number[];
    const abPexd = [] as number[];
    for (let r = 0; r < rounds; r++) {
      abBase.push((await ab(base.url + "/")).rps);
      abPexd.push((await ab(info.url + "/")).rps);
    }
    const b = median(abBase);
    const p = median(abPexd);
    rows.push({
      case: "ab -c 10 -n 10000: bare baseline",
      "req/s": Math.round(b),
      "p50 ms": NaN,
      "p99 ms": NaN,
      "× baseline": 1,
      "RSS MiB": Math.round(base.rssKiB() / 102.4) / 10,
      "CPU µs/req": NaN,
    });
    recordBaseline("bare Bun.serve (ab -c10, a connection per request)", b, "req/s");
    record("ab-root", p / b, `${Math.round(p)} vs ${Math.round(b)} req/s, median of ${rounds}`);
    rows.push({
      case: "ab -c 10 -n 10000: GET / (OpenAPI document, log info)",
      "req/s": Math.round(p),
      "p50 ms": NaN,
      "p99 ms": NaN,
      "× baseline": Math.round((p / b) * 100) / 100,
      "RSS MiB": Math.round(info.rssKiB() / 102.4) / 10,
      "CPU µs/req": NaN,
    });
  }
  recordBaseline("bare Bun.serve idle RSS", idle.base / 1024, "MiB");
  record("idle-rss", idle.pexd / idle.base, `${(idle.pexd / 1024).toFixed(1)} vs ${(idle.base / 1024).toFixed(1)} MiB`);
  rows.push({
    case: "idle RSS (before any load): pexd ÷ bare baseline",
    "req/s": NaN,
    "p50 ms": NaN,
    "p99 ms": NaN,
    "× baseline": Math.round((idle.pexd / idle.base) * 100) / 100,
    "RSS MiB": Math.round(idle.pexd / 102.4) / 10,
    "CPU µs/req": NaN,
  });
  const fibAfter = await (await fetch(quiet.url + "/current")).json();
  const reached = await (await fetch(steps.url + "/current")).json();
  for (const s of [base, info, quiet, big, steps]) await s.stop();
  console.error(`GET /next reached index ${reached.index} in the last round`);
  console.error(`counter after the run: index ${fibAfter.index} (every step committed before its answer)`);
  return rows;
}

if (import.meta.main) {
  const { values } = parseCli({
    usage: "bun run bench/core-load.ts [options]",
    about: "HTTP load on the core routes (wrk -t1 -c50) beside a bare Bun.serve baseline measured in the same run.",
    options: CORE_OPTIONS,
  });
  const { duration, rounds } = values;
  const rows = await coreLoad({ duration, rounds });
  console.log(`wrk -t1 -c50, ${duration}s × ${rounds} rounds, median; ${new Date().toISOString()}\n`);
  console.log(markdownTable(rows));
  const get = (c: string) => rows.find((r) => r.case.startsWith(c))!["req/s"] as number;
  console.log(
    `\naccess log cost: /current with log info = ${(get("GET /current (log info)") / get("GET /current (log warn")).toFixed(2)}× /current without`,
  );
}
