// Every benchmark target the project has set itself, in one place: `make bench` ends with a table of
// goal, result and status for each (docs/benchmarks.md#targets). A bench script that measures a
// target calls record(id, value); bench/run.ts collects the records of the run (one JSON line each in
// the file named by PEXD_BENCH_RESULTS) and renders summaryTable(). A target nothing measured in the
// run says so, with the command that measures it.
import { appendFileSync, existsSync, readFileSync } from "node:fs";

export interface Target {
  id: string;
  /** The issue that set it. */
  issue: number;
  what: string;
  /** The goal as written in the table. */
  goal: string;
  /** Met or not, from the recorded value. */
  met: (v: number) => boolean;
  /** The value as written in the table. */
  show: (v: number) => string;
  /** Where it is measured: the bench script (and options) or the test that prints it. */
  by: string;
}

const x = (v: number) => `${v.toFixed(2)}×`;
const ms = (v: number) => `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`;
const atLeast = (goal: number) => (v: number) => v >= goal;
const atMost = (goal: number) => (v: number) => v <= goal;
const below = (goal: number) => (v: number) => v < goal;
const pct = (v: number) => `${(v * 100).toFixed(1)} %`;

export const TARGETS: readonly Target[] = [
  // Issue 2 / 17: the core
  { id: "current", issue: 17, what: "`GET /current`, × bare Bun.serve", goal: "≥ 0.6×", met: atLeast(0.6), show: x, by: "core" },
  {
    id: "next-from-0",
    issue: 17,
    what: "durable `GET /next` from index 0, × bare",
    goal: "≥ 0.4×",
    met: atLeast(0.4),
    show: x,
    by: "core",
  },
  { id: "ab-root", issue: 2, what: "`ab -c 10 -n 10000 /`, × bare under ab", goal: "≥ 0.8×", met: atLeast(0.8), show: x, by: "core" },
  { id: "idle-rss", issue: 17, what: "idle RSS, × bare Bun.serve", goal: "≤ 1.5×", met: atMost(1.5), show: x, by: "core" },
  // Issue 3 / 17: widgets at 10M
  {
    id: "widgets-read-10m",
    issue: 17,
    what: "`GET /widgets/{sn}` at 10M, × bare",
    goal: "≥ 0.4×",
    met: atLeast(0.4),
    show: x,
    by: "widgets (10M database)",
  },
  {
    id: "widgets-mix-10m",
    issue: 17,
    what: "widgets mix 40/40/10/10 at 10M, × bare",
    goal: "≥ 0.18×",
    met: atLeast(0.18),
    show: x,
    by: "widgets (10M database)",
  },
  {
    id: "widgets-mix-10m-p99",
    issue: 17,
    what: "widgets mix at 10M, p99",
    goal: "< 10 ms",
    met: below(10),
    show: ms,
    by: "widgets (10M database)",
  },
  {
    id: "widgets-mix-10m-rps",
    issue: 3,
    what: "widgets mix at 10M, req/s",
    goal: "≥ 10,000",
    met: atLeast(10_000),
    show: (v) => Math.round(v).toLocaleString("en"),
    by: "widgets (10M database)",
  },
  {
    id: "widgets-add-10m",
    issue: 3,
    what: "`POST /rpc/add_widget` at 10M, × bare",
    goal: "≥ 0.12×",
    met: atLeast(0.12),
    show: x,
    by: "widgets (10M database)",
  },
  {
    id: "widgets-add-10m-p99",
    issue: 3,
    what: "`POST /rpc/add_widget` at 10M, p99",
    goal: "< 10 ms",
    met: below(10),
    show: ms,
    by: "widgets (10M database)",
  },
  // Issue 4 / 17: the gateway
  {
    id: "blocknumber-cached",
    issue: 17,
    what: "cached `GET /blocknumber`, × bare",
    goal: "≥ 0.5×",
    met: atLeast(0.5),
    show: x,
    by: "eth-load",
  },
  {
    id: "eth-cached",
    issue: 17,
    what: "cached `POST /eth` (single call), × bare",
    goal: "≥ 0.4×",
    met: atLeast(0.4),
    show: x,
    by: "eth-load",
  },
  {
    id: "eth-miss-added",
    issue: 4,
    what: "latency a cache miss adds over calling anvil directly, p50",
    goal: "≤ 1 ms",
    met: atMost(1),
    show: ms,
    by: "eth-load",
  },
  {
    id: "eth-upstream-saved",
    issue: 4,
    what: "upstream calls saved under the mixed load",
    goal: "≥ 90 %",
    met: atLeast(0.9),
    show: pct,
    by: "eth-load",
  },
  // Issue 5: WebSockets
  {
    id: "ws-vs-http",
    issue: 5,
    what: "`/ws/blocknumber` ÷ `/blocknumber`, cache off",
    goal: "≥ 1.2×",
    met: atLeast(1.2),
    show: x,
    by: "ws-load",
  },
  {
    id: "ws-idle-kib",
    issue: 5,
    what: "RSS per idle client WebSocket (10,000 held)",
    goal: "≤ 30 KiB",
    met: atMost(30),
    show: (v) => `${v.toFixed(1)} KiB`,
    by: "ws-load",
  },
  {
    id: "socket2socket",
    issue: 5,
    what: "cached calls through `/socket2socket`, × bare WebSocket echo",
    goal: "≥ 0.5×",
    met: atLeast(0.5),
    show: x,
    by: "ws-load",
  },
  // Issue 6 / 17: the relay
  {
    id: "relay-ingest",
    issue: 17,
    what: "relay ingest, 4 KiB frames, acknowledged, × bare TCP echo",
    goal: "≥ 0.3×",
    met: atLeast(0.3),
    show: x,
    by: "relay-load",
  },
  {
    id: "relay-delay-p99",
    issue: 6,
    what: "anvil mines → block stored by the relay server, p99",
    goal: "≤ 50 ms",
    met: atMost(50),
    show: ms,
    by: "relay-load",
  },
  // Issue 7: metrics
  {
    id: "metrics-cost",
    issue: 7,
    what: "`GET /current` with HTTP metrics on ÷ off (log info)",
    goal: "≥ 0.95×",
    met: atLeast(0.95),
    show: x,
    by: "http",
  },
  // Issue 13: limits
  {
    id: "limiter-cost",
    issue: 13,
    what: "rate limiter on cached `/blocknumber`: throughput lost",
    goal: "≤ 3 %",
    met: atMost(0.03),
    show: pct,
    by: "limits-load",
  },
  {
    id: "flood-fairness",
    issue: 13,
    what: "a second client's p99 under a 20-connection flood ÷ unloaded",
    goal: "< 2×",
    met: below(2),
    show: x,
    by: "limits-load",
  },
  // Issue 14: faults
  {
    id: "silent-primary-p99",
    issue: 14,
    what: "silent primary + healthy secondary, p99",
    goal: "< 1 s",
    met: below(1000),
    show: ms,
    by: "faults-load",
  },
  {
    id: "silent-primary-p50",
    issue: 14,
    what: "silent primary + healthy secondary, p50 ÷ healthy primary alone",
    goal: "≤ 1.1× (unchanged)",
    met: atMost(1.1),
    show: x,
    by: "faults-load",
  },
  {
    id: "upstream-sockets",
    issue: 14,
    what: "upstream sockets under 200 concurrent reads ÷ pool size",
    goal: "≤ 2×",
    met: atMost(2),
    show: x,
    by: "faults-load",
  },
  // Issue 15: scale-out
  {
    id: "pg-next",
    issue: 15,
    what: "durable `/next` on PostgreSQL, 50 clients, steps/s",
    goal: "≥ 5,000",
    met: atLeast(5000),
    show: (v) => Math.round(v).toLocaleString("en"),
    by: "scale-load",
  },
  {
    id: "kill-window",
    issue: 15,
    what: "kill -9 of one of two instances: clients see errors for",
    goal: "< 2 s",
    met: below(2000),
    show: ms,
    by: "scale-load",
  },
  {
    id: "pg-mix-vs-reference",
    issue: 15,
    what: "widgets mix at 10M on PostgreSQL through HTTP ÷ the reference's SQL functions",
    goal: "≥ 1.0×",
    met: atLeast(1),
    show: x,
    by: "bun run bench/widgets-pg-vs-reference.ts (15–20 min; not in make bench)",
  },
  {
    id: "sqlite-mix-vs-reference",
    issue: 15,
    what: "widgets mix at 10M on SQLite ÷ the PostgreSQL reference",
    goal: "≥ 2×",
    met: atLeast(2),
    show: x,
    by: "bun run bench/widgets-pg-vs-reference.ts (15–20 min; not in make bench)",
  },
  // Issue 16: shipping
  {
    id: "binary-cold-start",
    issue: 16,
    what: "the executable's cold start to a healthy `/health`, median",
    goal: "< 300 ms",
    met: below(300),
    show: ms,
    by: "binary-start",
  },
  {
    id: "make-all",
    issue: 8,
    what: "`make all` on a booted host with Bun to a healthy service",
    goal: "< 60 s",
    met: below(60_000),
    show: ms,
    by: "make test (test/systemd.test.ts prints it; needs systemd-nspawn)",
  },
  {
    id: "fresh-machine",
    issue: 16,
    what: "fresh machine to a green `make test`, first run",
    goal: "< 10 min",
    met: below(600_000),
    show: (v) => `${(v / 1000).toFixed(0)} s`,
    by: "sudo scripts/fresh-machine.sh (not in make bench)",
  },
];

export interface Record_ {
  id: string;
  value: number;
  /** How it was measured, in a few words (shown beside the result). */
  detail?: string;
}

/**
 * Records a target's measured value for this run's summary (when bench/run.ts drives the script:
 * PEXD_BENCH_RESULTS names the file) and says it on stderr either way.
 */
export function record(id: string, value: number, detail?: string): void {
  const t = TARGETS.find((t) => t.id === id);
  if (!t) throw new Error(`record: no target ${id} in bench/targets.ts`);
  console.error(`target ${id}: ${Number.isFinite(value) ? t.show(value) : "n/a"} (goal ${t.goal})${detail ? `, ${detail}` : ""}`);
  const file = process.env.PEXD_BENCH_RESULTS;
  if (file) appendFileSync(file, `${JSON.stringify({ id, value, ...(detail ? { detail } : {}) })}\n`);
}

/** A baseline figure of this run (bare Bun.serve req/s, bare TCP echo frames/s, …) for the summary. */
export function recordBaseline(what: string, value: number, unit: string): void {
  const file = process.env.PEXD_BENCH_RESULTS;
  if (file) appendFileSync(file, `${JSON.stringify({ baseline: what, value, unit })}\n`);
}

export interface Baseline {
  baseline: string;
  value: number;
  unit: string;
}

export function readRecords(file: string): { records: Record_[]; baselines: Baseline[] } {
  if (!existsSync(file)) return { records: [], baselines: [] };
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record_ | Baseline);
  return {
    records: lines.filter((l): l is Record_ => "id" in l),
    baselines: lines.filter((l): l is Baseline => "baseline" in l),
  };
}

/** The baselines as one line: each figure's median over the runs that measured it. */
export function baselineLine(baselines: readonly Baseline[]): string {
  const by = new Map<string, Baseline[]>();
  for (const b of baselines) by.set(b.baseline, [...(by.get(b.baseline) ?? []), b]);
  return [...by.values()]
    .map((bs) => {
      const vs = bs.map((b) => b.value).sort((a, b) => a - b);
      const mid = vs[vs.length >> 1]!;
      const range =
        vs.length > 1
          ? ` (${Math.round(vs[0]!).toLocaleString("en")}–${Math.round(vs.at(-1)!).toLocaleString("en")} across the ${vs.length} suites that measured it)`
          : "";
      return `${bs[0]!.baseline} ${Math.round(mid).toLocaleString("en")} ${bs[0]!.unit}${range}`;
    })
    .join("; ");
}

/** The summary: every target, its goal, this run's result (the last record of it) and the status. */
export function summaryTable(records: readonly Record_[]): { markdown: string; met: number; missed: number; notRun: number } {
  const last = new Map(records.map((r) => [r.id, r]));
  let met = 0;
  let missed = 0;
  let notRun = 0;
  const rows = TARGETS.map((t) => {
    const r = last.get(t.id);
    if (!r || !Number.isFinite(r.value)) {
      notRun++;
      return `| ${t.issue} | ${t.what} | ${t.goal} | — | not run: ${t.by} |`;
    }
    const ok = t.met(r.value);
    if (ok) met++;
    else missed++;
    return `| ${t.issue} | ${t.what} | ${t.goal} | ${t.show(r.value)}${r.detail ? ` (${r.detail})` : ""} | ${ok ? "met" : "**missed**"} |`;
  });
  const markdown = ["| issue | target | goal | result | status |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
  return { markdown, met, missed, notRun };
}

/**
 * Several runs side by side: each target's result in every run, the median over the runs that
 * measured it, and its status (met in every run, or missed in how many).
 */
export function combinedTable(runs: readonly (readonly Record_[])[], names: readonly string[]): string {
  const lasts = runs.map((rs) => new Map(rs.map((r) => [r.id, r])));
  const rows = TARGETS.map((t) => {
    const vs = lasts.map((m) => m.get(t.id)?.value).map((v) => (v !== undefined && Number.isFinite(v) ? v : undefined));
    const got = vs.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
    const cells = vs.map((v) => (v === undefined ? "—" : t.show(v)));
    if (!got.length) return `| ${t.issue} | ${t.what} | ${t.goal} | ${cells.join(" | ")} | — | not run |`;
    const mid = got.length % 2 ? got[got.length >> 1]! : (got[got.length / 2 - 1]! + got[got.length / 2]!) / 2;
    const missed = got.filter((v) => !t.met(v)).length;
    const status =
      missed === 0
        ? `met in ${got.length} of ${got.length}`
        : `**missed in ${missed} of ${got.length}**${t.met(mid) ? " (median met)" : ""}`;
    return `| ${t.issue} | ${t.what} | ${t.goal} | ${cells.join(" | ")} | ${t.show(mid)} | ${status} |`;
  });
  return [
    `| issue | target | goal | ${names.join(" | ")} | median | status |`,
    `| --- | --- | --- | ${names.map(() => "---").join(" | ")} | --- | --- |`,
    ...rows,
  ].join("\n");
}
