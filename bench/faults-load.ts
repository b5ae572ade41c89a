// Upstream faults under load (wrk, uncached POST /eth reads, anvil behind): the latency of a healthy
// primary alone, then of a silent (black-holed) primary beside that healthy node as secondary, once
// its circuit has opened (the "after the first timeout"); and the connections held to an
// upstream under 200 concurrent reads. Beside a bare Bun.serve baseline in the same run.
// Usage: bun run bench/faults-load.ts [--duration 10] [--rounds 3]
import { record } from "./targets.ts";
import { parseCli } from "../scripts/lib/cli.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { blackHole, connectionsTo } from "../test/helpers/net.ts";
import { sample, until } from "../test/helpers/wait.ts";
import { haveWrk, markdownTable, median, startBaseline, startPexd, wrk } from "./lib.ts";

const { values } = parseCli({
  usage: "bun run bench/faults-load.ts [options]",
  about: "Upstream faults under load (a black-holed primary beside a healthy one), beside a bare Bun.serve baseline.",
  options: {
    duration: { type: "number", integer: true, min: 1, default: 10, arg: "S", help: "seconds per wrk run" },
    rounds: { type: "number", integer: true, min: 1, default: 3, help: "rounds, median" },
  },
});
const { duration, rounds } = values;
if (!haveWrk()) {
  console.error("wrk not found (apt-get install -y wrk)");
  process.exit(1);
}

/** Every request a balance of a fresh random address: never cached, never coalesced. */
const LUA_MISS = `
math.randomseed(${Date.now() % 1e9})
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local a = string.format("0x%08x%08x%08x%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
  return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["' .. a .. '","latest"]}')
end`;

const anvil = await startAnvil();
const base = await startBaseline();
const hole = await blackHole();
const env = { PEXD_LOG_LEVEL: "warn", PEXD_ETH_TIMEOUT_MS: "10000" };
const healthy = await startPexd({ ...env, PEXD_ETH_HTTP_URL: anvil.url });
const silent = await startPexd({ ...env, PEXD_ETH_HTTP_URL: `${hole.url},${anvil.url}` });
try {
  // The silent primary's circuit opens (a timeout, or consecutive hedged reads it lost) before measuring.
  const warm = wrk({ url: `${silent.url}/eth`, duration: 3, connections: 8, lua: LUA_MISS });
  await until(
    "the silent primary's circuit open",
    async () => sample(await (await fetch(`${silent.url}/metrics`)).text(), "pexd_eth_upstream_up", { upstream: hole.url }) === 0,
    30_000,
  );
  await warm;
  const rows: Record<string, string | number>[] = [];
  const runs = {
    base: [] as number[],
    healthy: [] as { p50: number; p99: number; rps: number }[],
    silent: [] as { p50: number; p99: number; rps: number; bad: number }[],
  };
  for (let r = 0; r < rounds; r++) {
    runs.base.push((await wrk({ url: `${base.url}/`, duration: 3, connections: 32 })).rps);
    const h = await wrk({ url: `${healthy.url}/eth`, duration, connections: 32, lua: LUA_MISS });
    runs.healthy.push({ p50: h.p50ms, p99: h.p99ms, rps: h.rps });
    const s = await wrk({ url: `${silent.url}/eth`, duration, connections: 32, lua: LUA_MISS });
    runs.silent.push({ p50: s.p50ms, p99: s.p99ms, rps: s.rps, bad: s.non2xx + s.errors });
  }
  const m = (xs: number[]) => median(xs);
  rows.push(
    { case: "bare Bun.serve baseline", "req/s": Math.round(m(runs.base)), "p50 ms": "", "p99 ms": "", errors: 0 },
    {
      case: "uncached POST /eth, healthy primary alone",
      "req/s": Math.round(m(runs.healthy.map((x) => x.rps))),
      "p50 ms": m(runs.healthy.map((x) => x.p50)),
      "p99 ms": m(runs.healthy.map((x) => x.p99)),
      errors: 0,
    },
    {
      case: "uncached POST /eth, silent primary + healthy secondary (circuit open)",
      "req/s": Math.round(m(runs.silent.map((x) => x.rps))),
      "p50 ms": m(runs.silent.map((x) => x.p50)),
      "p99 ms": m(runs.silent.map((x) => x.p99)),
      errors: runs.silent.reduce((a, x) => a + x.bad, 0),
    },
  );
  console.log(markdownTable(rows));
  const p50ratio = m(runs.silent.map((x) => x.p50)) / m(runs.healthy.map((x) => x.p50));
  record("silent-primary-p99", m(runs.silent.map((x) => x.p99)), `median of ${rounds} rounds, wrk -c32`);
  record("silent-primary-p50", p50ratio, `p50 ${m(runs.silent.map((x) => x.p50))} vs ${m(runs.healthy.map((x) => x.p50))} ms`);
  console.log(
    `\nsilent primary: p99 ${m(runs.silent.map((x) => x.p99)).toFixed(2)} ms (target < 1000 ms); p50 ${p50ratio.toFixed(2)}× the healthy primary's (target: unchanged); median of ${rounds} rounds of ${duration} s, wrk -c32.`,
  );

  // Connections to the upstream under 200 concurrent reads (the pool is 16 per upstream).
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, connectionsTo(anvil.port, healthy.pid));
  }, 10);
  const w = await wrk({ url: `${healthy.url}/eth`, duration: 5, connections: 200, lua: LUA_MISS });
  clearInterval(sampler);
  record("upstream-sockets", peak / 16, `at most ${peak} connections, pool 16`);
  console.log(
    `\n200 concurrent uncached reads (wrk -c200, 5 s, ${Math.round(w.rps)} req/s): at most ${peak} connections to the upstream at once (pool 16; target ≤ 2 × 16 = 32).`,
  );
} finally {
  await silent.stop();
  await healthy.stop();
  await hole.stop();
  await base.stop();
  await anvil.stop();
}
