// The WebSocket half under load, each figure next to its baseline measured in the same run:
//  1. /ws/blocknumber (upstream WebSocket multiplexer) vs /blocknumber (HTTP upstream), cache off
//     (PEXD_ETH_CACHE_TTL_MS=0), anvil upstream, wrk -t1 -c50;
//  2. cached eth_chainId calls through /socket2socket vs a bare Bun WebSocket echo server: 50
//     connections, one call in flight each, messages/s;
//  3. RSS growth per idle client WebSocket (10,000 connections).
// Usage: bun run bench/ws-load.ts [--duration 5] [--rounds 3] [--idle 10000]
import { record, recordBaseline } from "./targets.ts";
import { resolve } from "node:path";
import { parseCli } from "../scripts/lib/cli.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { BENCH_DIR, haveWrk, markdownTable, median, startBaseline, startPexd, wrk } from "./lib.ts";

const { values } = parseCli({
  usage: "bun run bench/ws-load.ts [options]",
  about: "The WebSocket half under load (upstream multiplexer, /socket2socket, idle clients), each beside its baseline.",
  options: {
    duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per run" },
    rounds: { type: "number", integer: true, min: 1, default: 3, help: "rounds, median" },
    idle: { type: "number", integer: true, default: 10_000, help: "idle client WebSockets for the RSS figure (0: skip it)" },
  },
});
const { duration, rounds, idle: idleN } = values;

async function startEcho(): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = Bun.spawn([process.execPath, resolve(BENCH_DIR, "ws-echo.ts")], { stdout: "pipe", stderr: "inherit" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const port = JSON.parse(new TextDecoder().decode(value).split("\n")[0]!).port as number;
  return {
    url: `ws://127.0.0.1:${port}`,
    stop: async () => {
      proc.kill();
      await proc.exited;
    },
  };
}

const open = (url: string) =>
  new Promise<WebSocket>((res, rej) => {
    const s = new WebSocket(url);
    s.onopen = () => res(s);
    s.onerror = () => rej(new Error(`cannot open ${url}`));
  });

/** `conns` sockets, each with one message in flight, for `seconds`: answers per second. */
async function pingPong(url: string, conns: number, seconds: number, message: string): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: conns }, () => open(url)));
  let count = 0;
  let running = true;
  for (const s of sockets) {
    s.onmessage = () => {
      count++;
      if (running) s.send(message);
    };
  }
  await Bun.sleep(200); // warm-up
  for (const s of sockets) s.send(message);
  const start = performance.now();
  const c0 = count;
  await Bun.sleep(seconds * 1000);
  const rate = ((count - c0) * 1000) / (performance.now() - start);
  running = false;
  for (const s of sockets) s.close();
  return rate;
}

if (!haveWrk()) throw new Error("wrk not installed (apt-get install wrk)");
const anvil = await startAnvil({ blockTime: 1 });
const base = await startBaseline();
const pexd = await startPexd({
  PEXD_ETH_HTTP_URL: anvil.url,
  PEXD_ETH_WS_URL: anvil.wsUrl,
  PEXD_ETH_CACHE_TTL_MS: "0",
  PEXD_LOG_LEVEL: "warn",
  // Every client here connects from 127.0.0.1: the per-address cap must admit the idle ones.
  PEXD_WS_MAX_CONNECTIONS_PER_IP: String(Math.max(64, idleN + 100)),
});
const echo = await startEcho();
const rows: Record<string, string | number>[] = [];
try {
  const r = {
    base: [] as number[],
    http: [] as number[],
    ws: [] as number[],
    echo: [] as number[],
    s2s: [] as number[],
    dh: [] as number[],
    dw: [] as number[],
  };
  const p99 = { http: [] as number[], ws: [] as number[], dh: [] as number[], dw: [] as number[] };
  // Distinct requests (a random index in the latest block: null, so never cached, never coalesced):
  // every request is one upstream call.
  const distinct = `math.randomseed(${Date.now() % 1e6})
request = function() return wrk.format("POST", nil, {["Content-Type"]="application/json"}, '{"block":"latest","index":' .. math.random(0, 1000000000) .. '}') end`;
  const wsUrl = `${pexd.url.replace(/^http/, "ws")}/socket2socket`;
  const call = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId" });
  // Idle clients first, on the freshly started pexd: RSS before and after opening them.
  const before = pexd.rssKiB();
  const idle: WebSocket[] = [];
  for (let i = 0; i < idleN; i += 500)
    idle.push(...(await Promise.all(Array.from({ length: Math.min(500, idleN - i) }, () => open(wsUrl)))));
  await Bun.sleep(2000);
  const after = pexd.rssKiB();
  const metrics = await (await fetch(`${pexd.url}/metrics`)).text();
  const clients = Number(/^pexd_ws_clients (\d+)/m.exec(metrics)?.[1] ?? 0);
  const idleRow = {
    case: `${idleN} idle client WebSockets (pexd_ws_clients ${clients}): RSS growth KiB per connection`,
    "per s": NaN,
    "p99 ms": NaN,
    ratio: Math.round(((after - before) / idleN) * 10) / 10,
  };
  for (const s of idle) s.close();
  await Bun.sleep(1000);
  for (let i = 0; i < rounds; i++) {
    r.base.push((await wrk({ url: base.url, duration })).rps);
    const h = await wrk({ url: `${pexd.url}/blocknumber`, duration });
    r.http.push(h.rps);
    p99.http.push(h.p99ms);
    const w = await wrk({ url: `${pexd.url}/ws/blocknumber`, duration });
    r.ws.push(w.rps);
    p99.ws.push(w.p99ms);
    const dh = await wrk({ url: `${pexd.url}/txbyblockandindex`, duration, lua: distinct });
    r.dh.push(dh.rps);
    p99.dh.push(dh.p99ms);
    const dw = await wrk({ url: `${pexd.url}/ws/txbyblockandindex`, duration, lua: distinct });
    r.dw.push(dw.rps);
    p99.dw.push(dw.p99ms);
    r.echo.push(await pingPong(echo.url, 50, duration, call));
    r.s2s.push(await pingPong(wsUrl, 50, duration, call));
  }
  const m = (xs: number[]) => Math.round(median(xs));
  const ratio = (a: number[], b: number[]) => Math.round((median(a) / median(b)) * 100) / 100;
  const load = (name: string, xs: number[], p: number[] | null, base: number[]) => ({
    case: name,
    "per s": m(xs),
    "p99 ms": p ? median(p) : NaN,
    ratio: ratio(xs, base),
  });
  const versus = (name: string, a: number[], b: number[]) => ({ case: name, "per s": NaN, "p99 ms": NaN, ratio: ratio(a, b) });
  rows.push(
    load("bare Bun.serve baseline (HTTP)", r.base, null, r.base),
    load("GET /blocknumber, cache off (HTTP upstream)", r.http, p99.http, r.base),
    load("GET /ws/blocknumber, cache off (upstream WebSocket)", r.ws, p99.ws, r.base),
    versus("  /ws/blocknumber ÷ /blocknumber", r.ws, r.http),
    load("POST /txbyblockandindex, distinct (one upstream call each, HTTP)", r.dh, p99.dh, r.base),
    load("POST /ws/txbyblockandindex, distinct (one upstream call each, WebSocket)", r.dw, p99.dw, r.base),
    versus("  /ws ÷ HTTP, distinct calls", r.dw, r.dh),
    load("bare Bun WebSocket echo, 50 connections", r.echo, null, r.echo),
    load("/socket2socket cached eth_chainId, 50 connections", r.s2s, null, r.echo),
  );

  if (idleN > 0) rows.push(idleRow); // --idle 0 skips the idle-connection measurement
  record(
    "ws-vs-http",
    median(r.ws) / median(r.http),
    `median of ${rounds}; identical requests coalesce, so both mostly measure the gateway; distinct calls: ${(median(r.dw) / median(r.dh)).toFixed(2)}×`,
  );
  recordBaseline("bare Bun WebSocket echo (50 connections, one message in flight each)", median(r.echo), "messages/s");
  record("socket2socket", median(r.s2s) / median(r.echo), `${m(r.s2s)} vs ${m(r.echo)} messages/s`);
  if (idleN > 0) record("ws-idle-kib", idleRow.ratio, `${idleN} connections`);
} finally {
  await echo.stop();
  await pexd.stop();
  await base.stop();
  await anvil.stop();
}
console.log(markdownTable(rows));
