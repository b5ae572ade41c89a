// /metrics through the real Bun entry: the exposition passes `promtool check metrics`, parses with
// the Prometheus Python client's reference parser, and its values move with known requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import pkg from "../package.json" with { type: "json" };
import { startAnvil } from "./helpers/anvil.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";

/**
 * The reference parser of the Prometheus project's Python client (Debian python3-prometheus-client),
 * run on the exposition text; it answers every family with its samples as JSON.
 */
const PARSER = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value if math.isfinite(s.value) else str(s.value)} for s in f.samples]})
json.dump(out, sys.stdout)
`;
import { need, skipping } from "./helpers/requirements.ts";
interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}
const PYTHON = "/usr/bin/python3";

async function parse(text: string): Promise<ParsedFamily[]> {
  need("prometheus-client");
  const proc = Bun.spawn([PYTHON, "-c", PARSER], { stdin: new TextEncoder().encode(text), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`prometheus_client parser failed (apt-get install python3-prometheus-client):\n${err}`);
  return JSON.parse(out) as ParsedFamily[];
}

const TOKEN = "metrics-test-secret-token-8c1f";
const started: Pexd[] = [];
let p: Pexd;
beforeAll(async () => {
  p = await startPexd({ env: { PEXD_API_TOKEN: TOKEN } });
  started.push(p);
}, 60_000);
afterAll(async () => {
  for (const s of started) await s.dispose();
});

const auth = { headers: { Authorization: `Bearer ${TOKEN}` } };

async function scrape(srv: Pexd = p): Promise<{ text: string; families: Map<string, ParsedFamily> }> {
  const r = await fetch(`${srv.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const text = await r.text();
  const parsed = await parse(text);
  // Keyed by the exposed name (this parser strips `_total` from counter family names).
  const families = new Map(parsed.map((f) => [f.type === "counter" ? `${f.name}_total` : f.name, f]));
  return { text, families };
}

/** Reads /dashboard/stream up to its first complete event, then disconnects. */
async function firstEvent(base: string): Promise<{ status: number; type: string | null; buf: string }> {
  const ac = new AbortController();
  const r = await fetch(`${base}/dashboard/stream`, { signal: ac.signal });
  const reader = r.body!.getReader();
  let buf = "";
  while (!buf.includes("\n\n")) {
    const { value: chunk, done } = await reader.read();
    if (done) break;
    buf += new TextDecoder().decode(chunk);
  }
  ac.abort();
  return { status: r.status, type: r.headers.get("content-type"), buf };
}

const matches = (s: ParsedSample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);
/** Sum of the samples named `name` (a family, or a histogram's _count/_sum) matching `labels`; 0 when none. */
function value(fams: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  let v = 0;
  for (const f of fams.values()) for (const s of f.samples) if (s.name === name && matches(s, labels)) v += Number(s.value);
  return v;
}
function histogram(fams: Map<string, ParsedFamily>, name: string, labels: Record<string, string>) {
  return {
    count: value(fams, `${name}_count`, labels),
    sum: value(fams, `${name}_sum`, labels),
    inf: value(fams, `${name}_bucket`, { ...labels, le: "+Inf" }),
  };
}

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

describe.skipIf(skipping("prometheus-client"))("/metrics", () => {
  test("the exposition is valid: promtool check metrics, a real parser, conventions", async () => {
    // Some traffic first, so that labelled series and histograms exist.
    expect((await fetch(`${p.url}/current`)).status).toBe(200);
    expect((await fetch(`${p.url}/no/such/path`)).status).toBe(404);
    const { text, families } = await scrape();
    const checked = await promtool(text);
    if (checked) {
      expect(checked.out).toBe(""); // promtool prints lint problems and still exits 0 for some
      expect(checked.code).toBe(0);
    } else {
      console.warn("promtool not installed (apt-get install prometheus): strict parse checks only");
    }
    for (const [name, f] of families) {
      // Our own families carry the pexd_ prefix; the process collector's use the standard process_
      // names that common dashboards query.
      expect(name).toMatch(/^(pexd_[a-z0-9_]+|process_(resident_memory_bytes|cpu_seconds_total|open_fds|start_time_seconds))$/);
      expect(f.help.length).toBeGreaterThan(0);
      expect(f.samples.every((x) => Number.isFinite(x.value))).toBe(true);
      if (f.type === "histogram") {
        for (const c of f.samples.filter((x) => x.name === `${name}_count`)) {
          const { le: _, ...labels } = c.labels;
          expect(histogram(families, name, labels).inf).toBe(c.value);
        }
      }
    }
    // Every metric the issue names for the core and the process.
    for (const name of [
      "pexd_http_requests_total",
      "pexd_http_request_duration_seconds",
      "pexd_fib_index",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total",
      "process_open_fds",
      "pexd_event_loop_lag_seconds",
      "pexd_build_info",
      "pexd_widgets",
    ]) {
      expect(families.has(name)).toBe(true);
    }
    expect(families.get("pexd_http_request_duration_seconds")!.type).toBe("histogram");
    expect(families.get("pexd_http_requests_total")!.type).toBe("counter");
    expect(value(families, "pexd_build_info", { version: pkg.version })).toBe(1);
    expect(value(families, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
    expect(value(families, "process_open_fds")).toBeGreaterThan(2);
    expect(value(families, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value(families, "pexd_http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1);
    expect(text).not.toContain(TOKEN);
  });

  test("3 × GET /next moves pexd_fib_index and the /next counters by exactly 3", async () => {
    const before = (await scrape()).families;
    for (let i = 0; i < 3; i++) expect((await fetch(`${p.url}/next`, auth)).status).toBe(200);
    const state = (await (await fetch(`${p.url}/current`)).json()) as { index: number };
    const after = (await scrape()).families;
    const route = { method: "GET", route: "/next", status: "200" };
    expect(value(after, "pexd_fib_index") - value(before, "pexd_fib_index")).toBe(3);
    expect(value(after, "pexd_fib_index")).toBe(state.index);
    expect(value(after, "pexd_http_requests_total", route) - value(before, "pexd_http_requests_total", route)).toBe(3);
    const h0 = histogram(before, "pexd_http_request_duration_seconds", { route: "/next" });
    const h1 = histogram(after, "pexd_http_request_duration_seconds", { route: "/next" });
    expect(h1.count - h0.count).toBe(3);
    expect(h1.sum).toBeGreaterThan(h0.sum);
  });

  test("a rejected request is counted under its route pattern and status, never the raw URL", async () => {
    const before = (await scrape()).families;
    // No token: 401 on a mutating route.
    expect((await fetch(`${p.url}/reset`, { method: "POST" })).status).toBe(401);
    // Route pattern with a parameter: the label is the pattern.
    expect((await fetch(`${p.url}/widgets/does-not-exist-123`)).status).toBe(404);
    const { families: after, text } = await scrape();
    expect(
      value(after, "pexd_http_requests_total", { method: "POST", route: "/reset", status: "401" }) -
        value(before, "pexd_http_requests_total", { method: "POST", route: "/reset", status: "401" }),
    ).toBe(1);
    expect(value(after, "pexd_http_requests_total", { method: "GET", route: "/widgets/:sn", status: "404" })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain("does-not-exist-123");
    expect(value(after, "pexd_fib_index")).toBe(value(before, "pexd_fib_index"));
  });

  test("module families are appended: pexd_widgets follows add_widget", async () => {
    const before = value((await scrape()).families, "pexd_widgets");
    const r = await fetch(`${p.url}/rpc/add_widget`, {
      method: "POST",
      headers: { ...auth.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ widget_sn: "metrics-w1", widget_name: "m", slots: ["P"] }),
    });
    expect(r.status).toBe(204);
    expect(value((await scrape()).families, "pexd_widgets")).toBe(before + 1);
  });

  test("the dashboard stream sends JSON points whose gauges follow the counter", async () => {
    const state = (await (await fetch(`${p.url}/current`)).json()) as { index: number };
    const { status, type, buf } = await firstEvent(p.url);
    expect(status).toBe(200);
    expect(type).toStartWith("text/event-stream");
    const m = /event: point\ndata: (.*)\n/.exec(buf);
    expect(m).not.toBeNull();
    const point = JSON.parse(m![1]!) as {
      gauges: { fib_index: number; widgets: number | null; head_block: number | null };
      present: { eth: boolean; widgets: boolean };
    };
    expect(point.gauges.fib_index).toBe(state.index);
    // No upstream configured: the gateway is not live (its zeroed cache counters do not count).
    expect(point.present).toMatchObject({ eth: false, cache: false, upstream: false, widgets: true });
    expect(point.gauges.head_block).toBeNull();
  });
});

describe.skipIf(skipping("prometheus-client"))("PEXD_HTTP_METRICS=off (benchmark switch)", () => {
  test("no request series are recorded, everything else still is", async () => {
    const off = await startPexd({ env: { PEXD_HTTP_METRICS: "off" } });
    started.push(off);
    for (let i = 0; i < 2; i++) expect((await fetch(`${off.url}/next`)).status).toBe(200);
    const { families, text } = await scrape(off);
    expect(families.get("pexd_http_requests_total")?.samples ?? []).toEqual([]);
    expect(value(families, "pexd_fib_index")).toBe(2);
    const checked = await promtool(text);
    if (checked) expect(checked.code).toBe(0);
  }, 60_000);
});

describe.skipIf(skipping("prometheus-client"))("with an Ethereum upstream (real anvil)", () => {
  test("the gateway's families are appended and move; the dashboard marks eth live", async () => {
    const anvil = await startAnvil();
    try {
      const srv = await startPexd({ env: { PEXD_ETH_HTTP_URL: anvil.url } });
      started.push(srv);
      const before = (await scrape(srv)).families;
      const first = await fetch(`${srv.url}/eth_chainId`);
      expect(first.status).toBe(200);
      expect(((await first.json()) as { result: string }).result).toBe("0x7a69");
      const second = await fetch(`${srv.url}/eth_chainId`);
      expect(second.headers.get("x-cache")).toBe("HIT");
      const { families: after, text } = await scrape(srv);
      expect(value(after, "pexd_eth_cache_hits_total") - value(before, "pexd_eth_cache_hits_total")).toBeGreaterThanOrEqual(1);
      expect(value(after, "pexd_eth_upstream_requests_total", { method: "eth_chainId", outcome: "ok" })).toBeGreaterThanOrEqual(1);
      expect(value(after, "pexd_eth_upstream_request_duration_seconds_count")).toBeGreaterThanOrEqual(1);
      expect(value(after, "pexd_http_requests_total", { route: "/eth_chainId", status: "200" })).toBe(2);
      const checked = await promtool(text);
      if (checked) expect(checked.code).toBe(0);

      const { buf } = await firstEvent(srv.url);
      const point = JSON.parse(/data: (.*)\n/.exec(buf)![1]!) as { present: { eth: boolean; cache: boolean; upstream: boolean } };
      expect(point.present).toEqual(expect.objectContaining({ eth: true, cache: true, upstream: true }));
    } finally {
      await anvil.stop();
    }
  }, 90_000);
});
