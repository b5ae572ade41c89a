// `make bench`: runs the HTTP load of each route (wrk, against a bare Bun.serve baseline in the same
// run, metrics middleware on and off), the other suites present in bench/, and writes
// bench/results/<date>.md with tables and SVG plots of throughput and latency per route.
// Usage: bun run bench/run.ts [--only http,micro,core,widgets,…] [--duration 5] [--rounds 3] [--list]
//          [--data-dir DIR --widgets N [--skip-small]] [--cases a,b]   (the widgets suite's options, as bench/load.ts)
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { parseCli } from "../scripts/lib/cli.ts";
import { ROOT } from "../test/helpers/pexd.ts";
import { BENCH_DIR, haveWrk, median, startBaseline, startPexd, wrkCpu, markdownTable, type WrkResult } from "./lib.ts";
import { SUITE_OPTIONS, SUITES, suiteOptionsFrom } from "./load.ts";
import { renderMarkdown, renderSvg, type RouteResult, type Section } from "./report.ts";
import { baselineLine, combinedTable, readRecords, record, recordBaseline, summaryTable } from "./targets.ts";

/** Suites of bench/load.ts (core, widgets, …): run in this process. */
const suites = SUITES;
const suiteFiles = new Set(Object.keys(suites).map((s) => `${s}-load.ts`));

/**
 * Other load scripts (bench/<name>-load.ts) that bench/load.ts does not drive: run as subprocesses.
 * Other bench/*.ts files are helpers (baselines, load generators) and are never run on their own.
 */
function extraScripts(loadSuiteFiles: Set<string>): string[] {
  return readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith("-load.ts") && !loadSuiteFiles.has(f))
    .sort();
}
const extras = extraScripts(suiteFiles);
const micro = readdirSync(BENCH_DIR)
  .filter((f) => f.endsWith(".bench.ts"))
  .sort();
const ALL = ["http", ...(micro.length ? ["micro"] : []), ...Object.keys(suites), ...extras.map((f) => basename(f, ".ts")), "binary"];
/** Where the seeded 10M-widget database is kept between runs (a pristine copy per schema). */
const BIG_DIR = process.env.PEXD_BENCH_DIR ?? "/var/tmp/pexd-bench";

const { values, fail } = parseCli({
  usage: "bun run bench/run.ts [options]",
  about: "`make bench`: every suite (or --only some), written to bench/results/<date>.md with SVG plots.",
  options: {
    only: { type: "string", arg: "LIST", help: `comma-separated, of: ${ALL.join(",")} (default all)` },
    list: { type: "boolean", help: "print the suite names and exit" },
    combine: {
      type: "string",
      arg: "FILES",
      help: "comma-separated bench/results/*-targets.jsonl of several runs: print every target's result in each, the median and the status, and exit",
    },
    "no-10m": {
      type: "boolean",
      help: `widgets suite without --data-dir: skip the 10M-widget database (otherwise seeded once into ${BIG_DIR}, ~2 min and ~3 GB, and copied fresh for each run)`,
    },
    ...SUITE_OPTIONS,
    duration: {
      type: "number",
      integer: true,
      min: 1,
      arg: "S",
      help: "seconds per wrk run (default 5; the core and widgets suites keep their own when not given)",
    },
    rounds: {
      type: "number",
      integer: true,
      min: 1,
      help: "interleaved rounds, median (default 3; the core and widgets suites keep their own when not given)",
    },
  },
  notes:
    "--data-dir, --widgets, --skip-small and --cases are the widgets suite's (bench/widgets-load.ts).\n" +
    "--duration and --rounds go to the bench/*-load.ts scripts too, to each that takes them (per its --help).",
});
const duration = values.duration ?? 5;
const rounds = values.rounds ?? 3;
const only = values.only?.split(",").filter(Boolean);
const unknownSuites = only?.filter((o) => !ALL.includes(o)) ?? [];
if (only && (only.length === 0 || unknownSuites.length))
  fail(`--only: unknown suite(s) ${unknownSuites.join(", ")}; have: ${ALL.join(", ")}`);
const want = (s: string) => !only || only.includes(s);
const parsedSuiteOpts = suiteOptionsFrom(values, Object.keys(suites).filter(want));
const suiteOpts = typeof parsedSuiteOpts === "string" ? fail(parsedSuiteOpts) : parsedSuiteOpts;
const TEN_MILLION = 10_000_000;
const RESULTS = resolve(BENCH_DIR, "results");

type Rows = Record<string, string | number>[];

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, "g");
const stripAnsi = (s: string) => s.replace(ANSI, "");

async function runScript(file: string, args: string[] = []): Promise<string> {
  const proc = Bun.spawn([process.execPath, "run", join(BENCH_DIR, file), ...args], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
  });
  const out = await new Response(proc.stdout).text();
  const code = await proc.exited;
  return stripAnsi(out).trim() + (code === 0 ? "" : `\n\n(exited with status ${code})`);
}

/** The options a bench script takes, read from its --help (which starts nothing). */
async function optionsOf(file: string): Promise<Set<string>> {
  const proc = Bun.spawn([process.execPath, "run", join(BENCH_DIR, file), "--help"], { stdout: "pipe", stderr: "ignore" });
  const out = await new Response(proc.stdout).text();
  return new Set((await proc.exited) === 0 ? out.match(/--[a-z][a-z0-9-]*/g) : []);
}

interface Case {
  name: string;
  server: "base" | "on" | "off" | "onInfo" | "offInfo";
  path: string;
  lua?: string;
}

const ALTERNATE = `local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", (i % 2 == 0) and "/previous" or "/next")
end`;

/** The HTTP suite: each route of the core and the present modules, metrics middleware on and off. */
async function httpSuite(): Promise<{ routes: RouteResult[]; findings: string[] }> {
  if (!haveWrk()) throw new Error("wrk is not installed (apt-get install -y wrk)");
  const base = await startBaseline();
  // Log level warn: the access log costs ~30% of a small route and would blur the metrics figure.
  const on = await startPexd({ PEXD_LOG_LEVEL: "warn" });
  const off = await startPexd({ PEXD_LOG_LEVEL: "warn", PEXD_HTTP_METRICS: "off" });
  // And at the default level (info), where the edge middleware already times and labels each
  // request for the access log, so the metrics add only the recording.
  const onInfo = await startPexd({ PEXD_LOG_LEVEL: "info" });
  const offInfo = await startPexd({ PEXD_LOG_LEVEL: "info", PEXD_HTTP_METRICS: "off" });
  const servers = { base, on, off, onInfo, offInfo };
  try {
    const paths = Object.keys(((await (await fetch(`${on.url}/openapi.json`)).json()) as { paths: Record<string, unknown> }).paths);
    const has = (p: string) => paths.includes(p);
    // One widget to read back.
    if (has("/rpc/add_widget")) {
      const r = await fetch(`${on.url}/rpc/add_widget`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ widget_sn: "bench-1", widget_name: "bench", slots: ["P", "R"] }),
      });
      if (r.status !== 204) throw new Error(`add_widget answered ${r.status}`);
    }
    const cases: Case[] = [
      { name: "bare Bun.serve baseline", server: "base", path: "/" },
      { name: "GET /current (metrics on)", server: "on", path: "/current" },
      { name: "GET /current (metrics off)", server: "off", path: "/current" },
      { name: "GET /current (log info, metrics on)", server: "onInfo", path: "/current" },
      { name: "GET /current (log info, metrics off)", server: "offInfo", path: "/current" },
      { name: "GET /health", server: "on", path: "/health" },
      { name: "POST /next + /previous (group commit)", server: "on", path: "/next", lua: ALTERNATE },
      ...(has("/widgets/{sn}") ? [{ name: "GET /widgets/{sn}", server: "on", path: "/widgets/bench-1" } as Case] : []),
      ...(has("/widgets") ? [{ name: "GET /widgets?limit=10", server: "on", path: "/widgets?limit=10" } as Case] : []),
      ...(has("/stats") ? [{ name: "GET /stats", server: "on", path: "/stats" } as Case] : []),
      { name: "GET /metrics", server: "on", path: "/metrics" },
      { name: "GET /dashboard", server: "on", path: "/dashboard" },
      { name: "GET /openapi.json", server: "on", path: "/openapi.json" },
    ];
    const results = new Map<string, (WrkResult & { cpuUs: number })[]>();
    // Rounds interleave the cases, so drift on this shared machine hits every case alike.
    for (let r = 0; r < rounds; r++) {
      for (const c of cases) {
        const srv = servers[c.server];
        const res = await wrkCpu(srv, { path: c.path, duration, connections: 50, ...(c.lua ? { lua: c.lua } : {}) });
        const { cpuUs } = res;
        console.error(
          `round ${r + 1}/${rounds} ${c.name}: ${Math.round(res.rps)} req/s, p50 ${res.p50ms} ms, p99 ${res.p99ms} ms, ${cpuUs.toFixed(1)} µs CPU/req`,
        );
        results.set(c.name, [...(results.get(c.name) ?? []), { ...res, cpuUs }]);
      }
    }
    const baseRps = median(results.get(cases[0]!.name)!.map((x) => x.rps));
    recordBaseline("bare Bun.serve (wrk -c50)", baseRps, "req/s");
    const routes = cases.map((c): RouteResult => {
      const rs = results.get(c.name)!;
      const rps = median(rs.map((x) => x.rps));
      return {
        route: c.name,
        rps,
        p50ms: median(rs.map((x) => x.p50ms)),
        p99ms: median(rs.map((x) => x.p99ms)),
        ratio: rps / baseRps,
        rssMiB: servers[c.server].rssKiB() / 1024,
        cpuUsPerReq: median(rs.map((x) => x.cpuUs)),
        errors: rs.reduce((a, x) => a + x.errors + x.non2xx, 0),
      };
    });
    // The metrics cost: the on/off ratio per round (each pair ran back to back), then the median.
    const findings: string[] = [];
    for (const [label, onName, offName] of [
      ["log warn (no access log)", "GET /current (metrics on)", "GET /current (metrics off)"],
      ["log info (the default)", "GET /current (log info, metrics on)", "GET /current (log info, metrics off)"],
    ] as const) {
      const onRuns = results.get(onName)!;
      const offRuns = results.get(offName)!;
      const pairs = onRuns.map((x, i) => x.rps / offRuns[i]!.rps);
      if (label.startsWith("log info")) record("metrics-cost", median(pairs), `per round ${pairs.map((p) => p.toFixed(2)).join(", ")}`);
      const cpuOn = median(onRuns.map((x) => x.cpuUs));
      const cpuOff = median(offRuns.map((x) => x.cpuUs));
      findings.push(
        `HTTP metrics cost, ${label}: GET /current req/s with metrics on / off = **${median(pairs).toFixed(3)}×** (median of ${rounds} back-to-back pairs: ${pairs.map((p) => p.toFixed(2)).join(", ")}); server CPU per request ${cpuOn.toFixed(2)} µs on vs ${cpuOff.toFixed(2)} µs off = **${(cpuOff / cpuOn).toFixed(3)}×**. Target ≥ 0.95.`,
      );
    }
    return { routes, findings };
  } finally {
    for (const s of [base, on, off, onInfo, offInfo]) await s.stop();
  }
}

/** RouteResults from a load suite's rows, when they carry the usual columns. */
function rowsToRoutes(rows: Rows): RouteResult[] | null {
  const first = rows[0];
  if (!first || !("req/s" in first) || !("p50 ms" in first) || !("p99 ms" in first)) return null;
  const key = Object.keys(first)[0]!;
  const baseRow = rows.find((r) => /baseline/i.test(String(r[key])));
  const baseRps = Number(baseRow?.["req/s"] ?? NaN);
  return rows.map((r) => ({
    route: String(r[key]),
    rps: Number(r["req/s"]),
    p50ms: Number(r["p50 ms"]),
    p99ms: Number(r["p99 ms"]),
    ratio: Number(r["× baseline"] ?? Number(r["req/s"]) / baseRps),
    rssMiB: Number(r["RSS MiB"] ?? 0),
    errors: 0,
  }));
}

async function main() {
  if (values.combine) {
    const files = values.combine.split(",").filter(Boolean);
    const runs = files.map((f) => readRecords(f));
    if (runs.some((r) => !r.records.length))
      fail(`--combine: no target records in ${files.filter((_, i) => !runs[i]!.records.length).join(", ")}`);
    console.log(
      combinedTable(
        runs.map((r) => r.records),
        files.map((f) => basename(f, "-targets.jsonl")),
      ),
    );
    return;
  }
  if (values.list) {
    console.log(ALL.join("\n"));
    return;
  }

  const date = new Date();
  const stamp = date.toISOString().slice(0, 10);
  mkdirSync(RESULTS, { recursive: true });
  // Every script this run starts (and the suites run here) records its targets into this file.
  const recordsFile = join(mkdtempSync(join(tmpdir(), "pexd-bench-")), "records.jsonl");
  process.env.PEXD_BENCH_RESULTS = recordsFile;
  if (want("widgets") && !suiteOpts.dataDir && !values["no-10m"]) {
    suiteOpts.dataDir = await tenMillionWidgets();
    suiteOpts.widgets = TEN_MILLION;
  }
  const sections: Section[] = [];
  const findings: string[] = [];
  let routes: RouteResult[] = [];
  const plots: string[] = [];

  if (want("http")) {
    const r = await httpSuite();
    routes = r.routes;
    findings.push(...r.findings);
    writeFileSync(join(RESULTS, `${stamp}.svg`), renderSvg(routes, `pexd HTTP routes, wrk -t1 -c50, ${stamp}`));
    writeFileSync(join(RESULTS, "latest.svg"), renderSvg(routes, `pexd HTTP routes, wrk -t1 -c50, ${stamp}`));
    plots.push(`${stamp}.svg`);
  }
  for (const [name, run] of Object.entries(suites)) {
    if (!want(name)) continue;
    console.error(`suite ${name}…`);
    const rows = await run(suiteOpts);
    const asRoutes = rowsToRoutes(rows);
    let body = markdownTable(rows);
    if (asRoutes) {
      const file = `${stamp}-${name}.svg`;
      writeFileSync(join(RESULTS, file), renderSvg(asRoutes, `pexd ${name} load, ${stamp}`));
      body = `![${name} throughput and latency](${file})\n\n${body}`;
    }
    sections.push({ title: `Suite: ${name}`, body });
  }
  if (want("micro")) {
    for (const f of micro) {
      console.error(`micro-benchmark ${f}…`);
      sections.push({ title: `Micro-benchmark: ${f} (mitata)`, body: "```text\n" + (await runScript(f)) + "\n```" });
    }
  }
  for (const f of extras) {
    if (!want(basename(f, ".ts"))) continue;
    console.error(`script ${f}…`);
    // Each gets --duration and --rounds when it takes them (bench/relay-load.ts counts frames, not seconds).
    const takes = await optionsOf(f);
    const pass: [string, string][] = [
      ["--duration", String(duration)],
      ["--rounds", String(rounds)],
    ];
    const args = pass.flatMap(([flag, v]) => (takes.has(flag) ? [flag, v] : []));
    sections.push({ title: `Script: bench/${f}`, body: "```text\n" + (await runScript(f, args)) + "\n```" });
  }

  if (want("binary")) {
    console.error("script binary-start.ts --build…");
    sections.push({
      title: "Script: bench/binary-start.ts --build",
      body: "```text\n" + (await runScript("binary-start.ts", ["--build", "--runs", "5"])) + "\n```",
    });
  }

  const { records, baselines } = readRecords(recordsFile);
  const summary = summaryTable(records);
  const counts = `${summary.met} met, ${summary.missed} missed, ${summary.notRun} not run`;
  const summaryMd = [
    `Baselines measured in this run: ${baselineLine(baselines) || "none (no suite with a baseline ran)"}.`,
    "",
    `Every target of every issue (${counts}); results are medians of the run's interleaved rounds, ratios against the baseline measured beside them:`,
    "",
    summary.markdown,
  ].join("\n");
  sections.push({ title: "Summary: every target", body: summaryMd });
  // One file per run (several runs a day are compared with --combine).
  const recordsOut = join(RESULTS, `${date.toISOString().slice(0, 16).replace(":", "")}-targets.jsonl`);
  writeFileSync(recordsOut, readFileSync(recordsFile, "utf8").toString());
  rmSync(dirname(recordsFile), { recursive: true, force: true });

  const cpu = cpus();
  const md = renderMarkdown({
    date,
    machine: `${cpu.length} × ${cpu[0]?.model ?? "cpu"}, Bun ${Bun.version}, ${process.platform}; wrk and the servers share these cores, so ratios to the baseline are the comparable figures.`,
    method: `wrk -t1 -c50 keep-alive, ${duration} s per case, ${rounds} interleaved rounds, median; every pexd is the real entry (src/runtime/bun/cli.ts) with a temp data dir and PEXD_LOG_LEVEL=warn unless the case says "log info"; PEXD_HTTP_METRICS=off turns the per-request recording off; RSS read from /proc/<pid>/status after the run; CPU µs/req = the server's user+system time over the requests served.`,
    routes,
    findings,
    sections,
    plot: plots[0] ?? "latest.svg",
  });
  const out = join(RESULTS, `${stamp}.md`);
  writeFileSync(out, md);
  console.log(`wrote ${out}${plots.length ? ` and ${plots.map((p) => join(RESULTS, p)).join(", ")}` : ""}`);
  for (const f of findings) console.log(f.replace(/\*\*/g, ""));
  console.log(`\n## Summary: every target\n\n${summaryMd}`);
  console.log(`\n(records: ${recordsOut}; several runs side by side: bun run bench/run.ts --combine A,B,C)`);
}

/**
 * The 10M-widget database of the widgets suite: seeded once (scripts/seed.ts --seed 1) into a
 * pristine copy named by the schema and the seed script (a change to either seeds anew), then copied
 * for each run, since the load changes it.
 */
async function tenMillionWidgets(): Promise<string> {
  const hash = new Bun.CryptoHasher("sha256");
  for (const f of readdirSync(join(ROOT, "db/sqlite")).sort()) hash.update(readFileSync(join(ROOT, "db/sqlite", f)));
  hash.update(readFileSync(join(ROOT, "scripts/seed.ts")));
  const key = `widgets-${TEN_MILLION}-${hash.digest("hex").slice(0, 12)}`;
  const pristine = join(BIG_DIR, `${key}.pristine`);
  mkdirSync(BIG_DIR, { recursive: true });
  for (const d of readdirSync(BIG_DIR))
    if (d.startsWith(`widgets-${TEN_MILLION}-`) && !d.startsWith(key)) rmSync(join(BIG_DIR, d), { recursive: true, force: true });
  if (!existsSync(join(pristine, "pexd.sqlite"))) {
    const tmp = `${pristine}.partial`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    console.error(`seeding ${TEN_MILLION.toLocaleString("en")} widgets into ${pristine} (once; ~2 min)…`);
    const p = Bun.spawn([process.execPath, "run", join(ROOT, "scripts/seed.ts"), "--widgets", String(TEN_MILLION), "--seed", "1"], {
      env: { ...process.env, PEXD_DATA_DIR: tmp },
      stdout: "inherit",
      stderr: "inherit",
    });
    if ((await p.exited) !== 0) throw new Error("seeding the 10M-widget database failed");
    renameSync(tmp, pristine);
  }
  const work = join(BIG_DIR, key);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  for (const f of readdirSync(pristine)) if (f.startsWith("pexd.sqlite")) copyFileSync(join(pristine, f), join(work, f));
  return work;
}

await main();
