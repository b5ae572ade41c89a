// Ethereum gateway under HTTP load (wrk), against a bare Bun.serve baseline in the same run, with a
// real anvil behind a counting proxy: cached GET /blocknumber and POST /eth, the latency a cache miss
// adds over calling anvil directly, upstream calls saved under a mixed load, and the cache bound.
// Usage: bun run bench/eth-load.ts [--duration 5] [--rounds 3]
import { parseCli } from "../scripts/lib/cli.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { startCountingProxy } from "../test/helpers/counting-proxy.ts";
import { UpstreamMetrics } from "../src/eth/eth.metrics.ts";
import { EthGateway } from "../src/eth/eth.gateway.ts";
import { HttpTransport } from "../src/eth/http.transport.ts";
import { haveWrk, luaRequest, markdownTable, median, startBaseline, startPexd, wrk, wrkCpu } from "./lib.ts";
import { record } from "./targets.ts";

const { values } = parseCli({
  usage: "bun run bench/eth-load.ts [options]",
  about: "The Ethereum gateway under HTTP load (wrk), anvil upstream, beside a bare Bun.serve baseline in the same run.",
  options: {
    duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per wrk run" },
    rounds: { type: "number", integer: true, min: 1, default: 3, help: "rounds, median" },
  },
});
const { duration, rounds } = values;

if (!haveWrk()) {
  console.error("wrk not found (apt-get install -y wrk)");
  process.exit(1);
}

const BLOCKS = 300;
const rpcBody = (method: string, params: unknown[] = []) => JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });

/** Each request a balance of a fresh random address: always a cache miss. */
const LUA_MISS = `
math.randomseed(${Date.now() % 1e9})
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local a = string.format("0x%08x%08x%08x%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["' .. a .. '","latest"]}')
end`;

/**
 * A dapp-like mix: 30% eth_blockNumber, 15% eth_gasPrice, 10% eth_chainId, 25% a random block of
 * the last ${BLOCKS} by number, 20% the balance of one of 20 popular addresses at latest. Heads move
 * every second (anvil --block-time 1), which drops the head-dependent answers.
 */
const LUA_MIXED = `
math.randomseed(${Date.now() % 1e9})
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local function call(m, p) return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":1,"method":"' .. m .. '","params":' .. p .. '}') end
request = function()
  local x = math.random()
  if x < 0.30 then return call("eth_blockNumber", "[]")
  elseif x < 0.45 then return call("eth_gasPrice", "[]")
  elseif x < 0.55 then return call("eth_chainId", "[]")
  elseif x < 0.80 then return call("eth_getBlockByNumber", string.format('["0x%x",false]', math.random(1, ${BLOCKS})))
  else return call("eth_getBalance", string.format('["0x%040x","latest"]', math.random(1, 20))) end
end`;

const anvil = await startAnvil({ blockTime: 1 });
await anvil.rpc("anvil_mine", [`0x${BLOCKS.toString(16)}`]);
const proxy = await startCountingProxy(anvil);
const baseline = await startBaseline();
// The default configuration (log level info: an access line per request).
const pexd = await startPexd({ PEXD_ETH_HTTP_URL: proxy.url, PEXD_ETH_FINALITY_DEPTH: "64" });
const rows: Record<string, string | number>[] = [];
try {
  // Warm: the cached entries exist before the cached runs.
  await fetch(`${pexd.url}/blocknumber`);
  const cached: [string, string, string, string | undefined][] = [
    ["blocknumber-cached", "GET /blocknumber (cached)", "/blocknumber", undefined],
    ["eth-cached", "POST /eth eth_blockNumber (cached)", "/eth", luaRequest("POST", rpcBody("eth_blockNumber"))],
  ];
  for (const [target, name, path, lua] of cached) {
    const base: number[] = [];
    const got: number[] = [];
    const p50: number[] = [];
    const p99: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      base.push((await wrk({ url: `${baseline.url}/`, duration, connections: 50 })).rps);
      const w = await wrkCpu(pexd, { path, duration, connections: 50, ...(lua ? { lua } : {}) });
      if (w.non2xx || w.errors) throw new Error(`${name}: ${w.non2xx} non-2xx, ${w.errors} socket errors`);
      got.push(w.rps);
      p50.push(w.p50ms);
      p99.push(w.p99ms);
      cpu.push(w.cpuUs);
    }
    // Each round's ratio to the baseline run just before it; the median of those.
    const ratios = got.map((g, i) => g / base[i]!);
    const ratio = median(ratios);
    rows.push({
      case: name,
      "req/s": Math.round(median(got)),
      "baseline req/s": Math.round(median(base)),
      ratio,
      "ratio per round": ratios.map((v) => v.toFixed(2)).join(", "),
      "p50 ms": median(p50),
      "p99 ms": median(p99),
      "CPU µs/req": median(cpu),
    });
    record(target, ratio, `${Math.round(median(got))} req/s, rounds ${ratios.map((v) => v.toFixed(2)).join("/")}`);
  }
  console.log(markdownTable(rows));

  // Miss latency: one connection, every request a fresh key, straight to anvil vs through a pexd
  // whose upstream is that same anvil (no proxy hop), alternating to share the machine's noise.
  const direct: number[] = [];
  const through: number[] = [];
  const directP99: number[] = [];
  const throughP99: number[] = [];
  const pm = await startPexd({ PEXD_ETH_HTTP_URL: anvil.url, PEXD_LOG_LEVEL: "warn" });
  try {
    for (let r = 0; r < Math.max(rounds, 3); r++) {
      const d = await wrk({ url: anvil.url, duration, connections: 1, lua: LUA_MISS });
      const t = await wrk({ url: `${pm.url}/eth`, duration, connections: 1, lua: LUA_MISS });
      if (t.non2xx || t.errors) throw new Error(`miss run: ${t.non2xx} non-2xx, ${t.errors} socket errors`);
      direct.push(d.p50ms);
      through.push(t.p50ms);
      directP99.push(d.p99ms);
      throughP99.push(t.p99ms);
    }
  } finally {
    await pm.stop();
  }
  console.log(`\nCache miss (c=1, every request a new key; median of ${direct.length} alternating runs)\n`);
  console.log(
    markdownTable([
      { path: "anvil direct", "p50 ms": median(direct), "p99 ms": median(directP99) },
      { path: "pexd POST /eth → anvil (miss)", "p50 ms": median(through), "p99 ms": median(throughP99) },
    ]),
  );
  console.log(`added by pexd on a miss at p50: ${(median(through) - median(direct)).toFixed(3)} ms`);
  record("eth-miss-added", median(through) - median(direct), `c=1, median of ${direct.length} alternating runs`);

  // Mixed load: client requests vs upstream calls.
  proxy.reset();
  const b0 = proxy.total();
  const mixed = await wrk({ url: `${pexd.url}/eth`, duration: Math.max(duration, 10), connections: 50, lua: LUA_MIXED });
  const calls = proxy.total() - b0;
  const saved = 1 - calls / mixed.requests;
  console.log(`\nMixed load (-c50, ${Math.max(duration, 10)} s, a new block every second)\n`);
  console.log(
    markdownTable([
      {
        "client requests": mixed.requests,
        "req/s": Math.round(mixed.rps),
        "upstream calls": calls,
        "requests per upstream call": mixed.requests / Math.max(calls, 1),
        "upstream calls saved %": saved * 100,
        "p99 ms": mixed.p99ms,
        errors: mixed.errors + mixed.non2xx,
      },
    ]),
  );
  console.log(`upstream calls by method: ${JSON.stringify(proxy.counts())}`);
  record("eth-upstream-saved", saved, `${mixed.requests} requests, ${calls} upstream calls`);
} finally {
  await pexd.stop();
  await baseline.stop();
  await proxy.stop();
  await anvil.stop();
}

// Cache bound: a small cache under a stream of distinct final blocks with full transactions, read
// in-process (the gateway's own byte count) and through the HTTP route (RSS of the process).
{
  const MAX = 256 * 1024;
  const a = await startAnvil();
  await a.rpc("anvil_mine", ["0x400"]);
  const metrics = new UpstreamMetrics();
  const gw = new EthGateway({
    transport: new HttpTransport({ upstreams: [{ label: a.url, url: a.url }], timeoutMs: 10_000, metrics }),
    cacheTtlMs: 2000,
    cacheMaxBytes: MAX,
    finalityDepth: 1,
  });
  const p = await startPexd({
    PEXD_ETH_HTTP_URL: a.url,
    PEXD_LOG_LEVEL: "warn",
    PEXD_ETH_CACHE_MAX_BYTES: String(MAX),
    PEXD_ETH_FINALITY_DEPTH: "1",
  });
  try {
    const rss0 = p.rssKiB();
    let served = 0;
    let peak = 0;
    for (let n = 0; n < 1024; n += 8) {
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const ans = await gw.handle({
            jsonrpc: "2.0",
            id: 1,
            method: "eth_getBlockByNumber",
            params: [`0x${(n + i).toString(16)}`, true],
          });
          served += ans.text().length;
          peak = Math.max(peak, gw.stats().bytes);
          const r = await fetch(`${p.url}/blockbynumber`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ block: n + i, txdetails: true }),
          });
          await r.arrayBuffer();
        }),
      );
    }
    const st = gw.stats();
    console.log(`\nCache bound (PEXD_ETH_CACHE_MAX_BYTES=${MAX}): 1024 distinct final blocks, ${served} result bytes served`);
    console.log(
      markdownTable([
        {
          "cache bytes (end)": st.bytes,
          "cache bytes (peak)": peak,
          bound: MAX,
          entries: st.entries,
          evictions: st.evictions,
          "pexd RSS before KiB": rss0,
          "pexd RSS after KiB": p.rssKiB(),
        },
      ]),
    );
  } finally {
    await p.stop();
    await a.stop();
  }
}
