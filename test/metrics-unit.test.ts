// The portable metrics pieces on their own: exposition escaping and merging (checked by promtool),
// HTTP request recording through the app's request edge, and the dashboard's quantiles and rates.
import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../src/app.ts";
import { parseConfig } from "../src/config.ts";
import { AppError } from "../src/errors.ts";
import { silentLogger } from "../src/log.ts";
import { quantileDelta, readTotals, toPoint } from "../src/metrics/dashboard.sampler.ts";
import { formatExposition, formatValue, mergeFamilies } from "../src/metrics/exposition.ts";
import { HttpMetrics } from "../src/metrics/http.metrics.ts";
import { metricsModule } from "../src/metrics/metrics.module.ts";
import { Histogram, type MetricFamily } from "../src/metrics/types.ts";
import type { PexdModule } from "../src/module.ts";
import { need, skipping } from "./helpers/requirements.ts";

async function promtool(text: string): Promise<{ code: number; out: string } | null> {
  if (!Bun.which("promtool")) {
    // Opted out (PEXD_TEST_SKIP=promtool): not checked by promtool; otherwise missing promtool fails.
    if (!skipping("promtool")) need("promtool");
    return null;
  }
  const proc = Bun.spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
  return { code: await proc.exited, out };
}

describe("exposition", () => {
  test("escapes label values and help, renders special numbers, passes promtool", async () => {
    const h = new Histogram([0.1, 1]);
    h.observe(0.05);
    h.observe(5);
    const text = formatExposition([
      {
        name: "pexd_test_events_total",
        help: 'Events with "quotes", a back\\slash\nand a newline.',
        type: "counter",
        samples: [{ labels: { path: 'a"b\\c\nd' }, value: 3 }],
      },
      {
        name: "pexd_test_ratio",
        help: "A gauge.",
        type: "gauge",
        samples: [
          { value: Number.POSITIVE_INFINITY },
          { labels: { k: "neg" }, value: -Infinity },
          { labels: { k: "nan" }, value: Number.NaN },
        ],
      },
      { name: "pexd_test_duration_seconds", help: "A histogram.", type: "histogram", samples: h.samples({ route: "/x" }) },
    ]);
    expect(text).toContain('pexd_test_events_total{path="a\\"b\\\\c\\nd"} 3\n');
    expect(text).toContain('# HELP pexd_test_events_total Events with "quotes", a back\\\\slash\\nand a newline.\n');
    expect(text).toContain("pexd_test_ratio +Inf\n");
    expect(text).toContain('pexd_test_ratio{k="neg"} -Inf\n');
    expect(text).toContain('pexd_test_duration_seconds_bucket{route="/x",le="1"} 1\n');
    expect(text).toContain('pexd_test_duration_seconds_bucket{route="/x",le="+Inf"} 2\n');
    expect(text).toContain('pexd_test_duration_seconds_count{route="/x"} 2\n');
    const checked = await promtool(text);
    if (checked) {
      expect(checked.out).toBe("");
      expect(checked.code).toBe(0);
    }
  });

  test("promtool rejects what the formatter must never produce (the check can fail)", async () => {
    const checked = await promtool('# TYPE pexd_bad counter\npexd_bad{a="1"} 1\npexd_bad{a="1"} 2\n');
    if (checked) expect(checked.code).not.toBe(0);
  });

  test("same-named families merge; a clashing type and invalid names are dropped", () => {
    const fams: MetricFamily[] = [
      { name: "pexd_x", help: "first", type: "gauge", samples: [{ labels: { m: "a" }, value: 1 }] },
      { name: "pexd_x", help: "second", type: "gauge", samples: [{ labels: { m: "b" }, value: 2 }] },
      { name: "pexd_x", help: "clash", type: "counter", samples: [{ value: 9 }] },
      { name: "bad-name", help: "invalid", type: "gauge", samples: [{ value: 1 }] },
    ];
    const merged = mergeFamilies(fams);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.help).toBe("first");
    expect(merged[0]!.samples.map((s) => s.value)).toEqual([1, 2]);
    expect(formatExposition(fams)).toBe('# HELP pexd_x first\n# TYPE pexd_x gauge\npexd_x{m="a"} 1\npexd_x{m="b"} 2\n');
    expect(formatValue(0.25)).toBe("0.25");
  });
});

describe("HTTP metrics", () => {
  test("the app's request edge counts by method, route pattern and status, including thrown errors and 404s", async () => {
    const http = new HttpMetrics();
    const items: PexdModule = {
      name: "items",
      register(app) {
        app.openapi(
          createRoute({
            method: "get",
            path: "/items/{id}",
            request: { params: z.object({ id: z.string() }) },
            responses: { 200: { description: "ok" } },
          }),
          (c) => c.text("ok", 200) as never,
        );
        app.get("/boom", () => {
          throw new AppError(409, "conflict", "no");
        });
        app.get("/crash", () => {
          throw new Error("bug");
        });
      },
    };
    const app = createApp({
      config: parseConfig({}),
      log: silentLogger,
      version: "t",
      modules: [items],
      observeRequest: (method, route, status, seconds) => http.record(method, route, status, seconds),
    });
    for (const path of ["/items/1", "/items/2", "/boom", "/crash", "/missing"]) await app.request(path);
    await app.request("/items/3", { method: "POST" });
    const [requests, durations] = http.families();
    const get = (labels: Record<string, string>) =>
      requests!.samples.find((s) => JSON.stringify(s.labels) === JSON.stringify(labels))?.value;
    expect(get({ method: "GET", route: "/items/:id", status: "200" })).toBe(2);
    expect(get({ method: "GET", route: "/boom", status: "409" })).toBe(1);
    expect(get({ method: "GET", route: "/crash", status: "500" })).toBe(1);
    expect(get({ method: "GET", route: "unmatched", status: "404" })).toBe(1);
    expect(get({ method: "POST", route: "unmatched", status: "405" })).toBe(1);
    expect(requests!.samples.reduce((a, s) => a + s.value, 0)).toBe(6);
    const count = durations!.samples.find((s) => s.suffix === "_count" && s.labels?.route === "/items/:id");
    expect(count?.value).toBe(2);
    expect(await promtool(formatExposition(http.families())).then((r) => r?.code ?? 0)).toBe(0);
  });

  test("the module: own families, other modules appended, a throwing module skipped", async () => {
    let index = 7;
    const m = metricsModule({
      version: "1.2.3",
      processProbe: {
        memory: () => ({ rss: 100, heapUsed: 10, heapTotal: 20 }),
        cpuSeconds: () => ({ user: 1, system: 0.5 }),
        openFds: () => null,
      },
      modules: () => [
        { name: "f", register() {}, metrics: () => [{ name: "pexd_fib_index", help: "f", type: "gauge", samples: [{ value: index }] }] },
        { name: "w", register() {}, metrics: () => [{ name: "pexd_widgets", help: "w", type: "gauge", samples: [{ value: 4 }] }] },
        {
          name: "broken",
          register() {},
          metrics: () => {
            throw new Error("down");
          },
        },
      ],
    });
    try {
      const byName = new Map(m.collect().map((f) => [f.name, f]));
      expect(byName.get("pexd_fib_index")!.samples[0]!.value).toBe(7);
      expect(byName.get("pexd_widgets")!.samples[0]!.value).toBe(4);
      expect(byName.get("process_cpu_seconds_total")!.samples[0]!.value).toBe(1.5);
      expect(byName.get("pexd_build_info")!.samples[0]!.labels).toEqual({ version: "1.2.3" });
      expect(byName.has("process_open_fds")).toBe(false); // the probe cannot count them
      index = 9;
      expect(m.collect().find((f) => f.name === "pexd_fib_index")!.samples[0]!.value).toBe(9);
    } finally {
      await m.close();
    }
  });
});

describe("dashboard sampler", () => {
  const cum = (pairs: [number, number][]) => new Map(pairs);

  test("quantiles interpolate inside the bucket of the interval's observations", () => {
    const prev = cum([
      [0.001, 10],
      [0.01, 10],
      [0.1, 10],
      [Infinity, 10],
    ]);
    // 100 new observations: 50 ≤ 1 ms, 40 in (1, 10] ms, 10 in (10, 100] ms.
    const cur = cum([
      [0.001, 60],
      [0.01, 100],
      [0.1, 110],
      [Infinity, 110],
    ]);
    expect(quantileDelta(0.5, prev, cur)).toBeCloseTo(0.001, 9);
    expect(quantileDelta(0.9, prev, cur)).toBeCloseTo(0.01, 9);
    expect(quantileDelta(0.95, prev, cur)).toBeCloseTo(0.055, 9);
    expect(quantileDelta(0.5, cur, cur)).toBeNull();
    // Beyond the last finite bound the answer is that bound.
    expect(
      quantileDelta(
        0.99,
        null,
        cum([
          [0.1, 0],
          [Infinity, 5],
        ]),
      ),
    ).toBe(0.1);
  });

  test("a point has rates from counter deltas, n/a for absent modules, and skips the stream route", () => {
    const fams = (n: number, hits: number | null): MetricFamily[] => [
      {
        name: "pexd_http_requests_total",
        help: "",
        type: "counter",
        samples: [
          { labels: { method: "GET", route: "/a", status: "200" }, value: n },
          { labels: { method: "GET", route: "/a", status: "503" }, value: 2 * n },
          { labels: { method: "GET", route: "/dashboard/stream", status: "200" }, value: 1000 * n },
        ],
      },
      { name: "pexd_fib_index", help: "", type: "gauge", samples: [{ value: n }] },
      ...(hits === null
        ? []
        : ([
            { name: "pexd_eth_cache_hits_total", help: "", type: "counter", samples: [{ value: hits }] },
            { name: "pexd_eth_cache_misses_total", help: "", type: "counter", samples: [{ value: 10 }] },
          ] satisfies MetricFamily[])),
    ];
    const present = { eth: false, cache: false, upstream: false, widgets: false, relay: false };
    const a = readTotals(fams(10, null), 1000);
    const b = readTotals(fams(30, null), 3000);
    const p = toPoint(a, b, present);
    expect(p.rps).toBe(30); // (20 + 40) over 2 s; the stream route is left out
    expect(p.status["2xx"]).toBe(10);
    expect(p.status["5xx"]).toBe(20);
    expect(p.gauges.fib_index).toBe(30);
    expect(p.gauges.head_block).toBeNull();
    expect(p.cache_hit_ratio).toBeNull();
    expect(toPoint(null, a, present).rps).toBeNull();
    const c = toPoint(readTotals(fams(1, 5), 0), readTotals(fams(1, 35), 1000), { ...present, eth: true, cache: true });
    expect(c.cache_hit_ratio).toBe(1); // 30 hits, 0 new misses
  });
});

describe("grafana/pexd-dashboard.json", () => {
  interface Panel {
    type: string;
    title: string;
    targets?: { expr: string }[];
  }
  const dash = JSON.parse(readFileSync(join(import.meta.dir, "../grafana/pexd-dashboard.json"), "utf8")) as { panels: Panel[] };
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  // Families of other modules, as their modules publish them (the list).
  const MODULE_FAMILIES = [
    "pexd_fib_index",
    "pexd_fib_commits_total",
    "pexd_widgets",
    "pexd_eth_cache_hits_total",
    "pexd_eth_cache_misses_total",
    "pexd_eth_cache_coalesced_total",
    "pexd_eth_cache_evictions_total",
    "pexd_eth_cache_bytes",
    "pexd_eth_upstream_requests_total",
    "pexd_eth_upstream_request_duration_seconds",
    "pexd_eth_head_block",
    "pexd_eth_head_age_seconds",
    "pexd_ws_clients",
    "pexd_ws_subscriptions",
    "pexd_ws_upstream_reconnects_total",
    "pexd_relay_frames_total",
    "pexd_relay_duplicates_total",
    "pexd_relay_rejected_total",
    "pexd_relay_bytes_total",
    "pexd_relay_clients",
    "pexd_relay_blocks",
    "pexd_relay_sent_total",
  ];

  test("uses only metric names that pexd exposes", async () => {
    const m = metricsModule({
      version: "t",
      modules: () => [],
      processProbe: { memory: () => ({ rss: 1, heapUsed: 1, heapTotal: 1 }), cpuSeconds: () => ({ user: 0, system: 0 }), openFds: () => 3 },
    });
    const own = m.collect().map((f) => f.name);
    await m.close();
    const known = new Set([...own, ...MODULE_FAMILIES]);
    const used = new Set(
      exprs.flatMap((e) => e.match(/\b(?:pexd|process)_[a-z0-9_]+/g) ?? []).map((n) => n.replace(/_(bucket|sum|count)$/, "")),
    );
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((n) => !known.has(n))).toEqual([]);
    // The panels the issue asks for are there.
    for (const want of [
      "pexd_http_requests_total",
      "pexd_http_request_duration_seconds",
      "pexd_eth_cache_hits_total",
      "pexd_eth_head_block",
      "pexd_fib_index",
      "pexd_widgets",
      "pexd_relay_clients",
      "process_resident_memory_bytes",
    ]) {
      expect(used.has(want)).toBe(true);
    }
  });

  test("every query is valid PromQL (promtool check rules)", async () => {
    if (!Bun.which("promtool")) {
      console.warn("promtool not installed (apt-get install prometheus): PromQL not checked");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "pexd-grafana-"));
    try {
      // Grafana's variables replaced by what they expand to; each query becomes a recording rule.
      const rules = exprs.map(
        (e, i) =>
          `      - record: pexd:grafana_query_${i}\n        expr: ${JSON.stringify(e.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*"))}`,
      );
      writeFileSync(join(dir, "rules.yml"), `groups:\n  - name: grafana\n    rules:\n${rules.join("\n")}\n`);
      const proc = Bun.spawn(["promtool", "check", "rules", join(dir, "rules.yml")], { stdout: "pipe", stderr: "pipe" });
      const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
      expect({ code: await proc.exited, out }).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${exprs.length} rules found`) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
