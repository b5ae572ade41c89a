// Scale-out figures (PostgreSQL + Redis, several instances behind nginx), each against a bare
// Bun.serve baseline measured in the same run, wrk -t1 -c50 keep-alive, interleaved rounds:
//  - durable POST /next from index 0: SQLite (one instance), PostgreSQL (one instance), PostgreSQL
//    (two behind nginx)
//  - cached GET /blocknumber: one instance without Redis, one with Redis, two with Redis behind nginx
//  - coalescing across instances: upstream calls for the same cold reads spread over two instances,
//    without and with the shared Redis cache (counted by a proxy in front of anvil)
//  - kill -9 of one of two instances under /next load: failed requests and their time window
// Usage: bun run bench/scale-load.ts [--duration 5] [--rounds 3] [--out bench/results/<file>.md]
import { record } from "./targets.ts";
import { writeFileSync } from "node:fs";
import { parseCli } from "../scripts/lib/cli.ts";
import { startAnvil } from "../test/helpers/anvil.ts";
import { startCountingProxy } from "../test/helpers/counting-proxy.ts";
import { startNginx } from "../test/helpers/nginx.ts";
import { startPostgres } from "../test/helpers/postgres.ts";
import { startRedis } from "../test/helpers/redis.ts";
import { haveWrk, markdownTable, median, type Server, startBaseline, startPexd, wrk } from "./lib.ts";

const { values: opts } = parseCli({
  usage: "bun run bench/scale-load.ts [options]",
  about: "Scale-out figures (PostgreSQL + Redis, instances behind nginx), each beside a bare Bun.serve baseline in the same run.",
  options: {
    duration: { type: "number", integer: true, min: 1, default: 5, arg: "S", help: "seconds per wrk run" },
    rounds: { type: "number", integer: true, min: 1, default: 3, help: "interleaved rounds, median" },
    out: { type: "string", arg: "FILE", help: "also write the report (markdown) to FILE" },
  },
});
const { duration, rounds } = opts;
if (!haveWrk()) {
  console.error("wrk not found (apt-get install -y wrk)");
  process.exit(1);
}

// A block a second, as bench/eth-load.ts; 200 blocks mined first so that the low ones are final
// (PEXD_ETH_FINALITY_DEPTH 64) and cached for good.
const anvil = await startAnvil({ blockTime: 1 });
await anvil.rpc("anvil_mine", ["0xc8"]);
const proxy = await startCountingProxy(anvil);
const pg = await startPostgres();
const redis = await startRedis();
const up = { PEXD_ETH_HTTP_URL: proxy.url, PEXD_ETH_WS_URL: proxy.wsUrl, PEXD_LOG_LEVEL: "warn", PEXD_RELAY_PORT: "0" };
const servers: Server[] = [];
const started = async (env: Record<string, string>) => {
  const s = await startPexd({ ...up, ...env });
  servers.push(s);
  return s;
};
const out: string[] = [];
const say = (s: string) => {
  console.log(s);
  out.push(s);
};

try {
  const base = await startBaseline();
  servers.push(base);
  const sqlite = await started({});
  const pgOne = await started({ PEXD_DATABASE_URL: await pg.createDatabase() });
  const pgDb = await pg.createDatabase();
  const pgA = await started({ PEXD_DATABASE_URL: pgDb, PEXD_REDIS_URL: redis.url });
  const pgB = await started({ PEXD_DATABASE_URL: pgDb, PEXD_REDIS_URL: redis.url });
  const cacheOnly = await started({});
  const cacheRedis = await started({ PEXD_REDIS_URL: redis.url, PEXD_DATABASE_URL: await pg.createDatabase() });
  const nginx = await startNginx([pgA.pexd.port, pgB.pexd.port]);
  // The upstream answers the first /blocknumber of each head; warm every instance first.
  for (const s of [cacheOnly, cacheRedis, pgA, pgB]) await fetch(`${s.url}/blocknumber`);

  const NEXT = `wrk.method = "POST"`;
  const cases: { name: string; url: string; lua?: string }[] = [
    { name: "POST /next, SQLite, 1 instance", url: `${sqlite.url}/next`, lua: NEXT },
    { name: "POST /next, PostgreSQL, 1 instance", url: `${pgOne.url}/next`, lua: NEXT },
    { name: "POST /next, PostgreSQL, 2 instances behind nginx", url: `${nginx.url}/next`, lua: NEXT },
    { name: "GET /blocknumber (cached), 1 instance, no Redis", url: `${cacheOnly.url}/blocknumber` },
    { name: "GET /blocknumber (cached), 1 instance + Redis", url: `${cacheRedis.url}/blocknumber` },
    { name: "GET /blocknumber (cached), 2 instances + Redis behind nginx", url: `${nginx.url}/blocknumber` },
  ];
  const baseRps: number[] = [];
  const results = new Map<string, { rps: number[]; p99: number[]; errors: number }>();
  for (let r = 0; r < rounds; r++) {
    baseRps.push((await wrk({ url: `${base.url}/`, duration, connections: 50 })).rps);
    for (const c of cases) {
      // Every /next run counts from 0: the values grow with the index (F(30 000) has 6 270 digits),
      // and so does the work per step; each case and round sees the same range.
      if (c.url.endsWith("/next")) await fetch(c.url.replace(/\/next$/, "/reset"), { method: "POST" });
      const w = await wrk({ url: c.url, duration, connections: 50, ...(c.lua ? { lua: c.lua } : {}) });
      const e = results.get(c.name) ?? { rps: [], p99: [], errors: 0 };
      e.rps.push(w.rps);
      e.p99.push(w.p99ms);
      e.errors += w.errors + w.non2xx;
      results.set(c.name, e);
    }
  }
  const b = median(baseRps);
  say(`## Throughput (wrk -t1 -c50, ${duration} s × ${rounds} interleaved rounds, medians)\n`);
  say(
    markdownTable([
      { case: "bare Bun.serve baseline", "req/s": Math.round(b), "p99 ms": "", "× baseline": "1.00", errors: 0 },
      ...cases.map((c) => {
        const e = results.get(c.name)!;
        return {
          case: c.name,
          "req/s": Math.round(median(e.rps)),
          "p99 ms": median(e.p99).toFixed(2),
          "× baseline": (median(e.rps) / b).toFixed(2),
          errors: e.errors,
        };
      }),
    ]),
  );

  const pgNext = results.get("POST /next, PostgreSQL, 1 instance")!;
  record("pg-next", median(pgNext.rps), `median of ${rounds}, one instance, wrk -c50`);

  // Coalescing across instances: K cold finalized blocks, each requested by 8 concurrent clients,
  // 4 on each instance. In-process coalescing folds each instance's 4 into one upstream call; the
  // shared cache lets the second instance reuse the first one's answer once it is stored.
  const head = Number(((await (await fetch(`${pgA.url}/blocknumber`)).json()) as { result: string }).result);
  const coalesce = async (x: Server, y: Server, from: number, k: number) => {
    proxy.reset();
    for (let n = from; n < from + k; n++) {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, false] });
      const call = (s: Server) => fetch(`${s.url}/eth`, { method: "POST", headers: { "content-type": "application/json" }, body });
      await Promise.all([x, x, x, x, y, y, y, y].map(call));
    }
    return proxy.count("eth_getBlockByNumber");
  };
  const k = Math.min(50, Math.max(1, head - 70));
  const noRedisA = await started({ PEXD_DATABASE_URL: await pg.createDatabase() });
  const noRedisB = await started({});
  const without = await coalesce(noRedisA, noRedisB, 1, k);
  // Same K requests, simultaneous: both instances miss Redis together, so both may go upstream.
  const withTogether = await coalesce(pgA, pgB, 1, k);
  say(`\n## Coalescing across instances (${k} cold finalized blocks × 8 concurrent identical calls, 4 per instance)\n`);
  say(
    markdownTable([
      {
        setup: "2 instances, no Redis",
        "upstream calls": without,
        "calls per block": (without / k).toFixed(2),
        "vs 8 naive": `${((1 - without / (8 * k)) * 100).toFixed(0)}% saved`,
      },
      {
        setup: "2 instances sharing Redis, same moment",
        "upstream calls": withTogether,
        "calls per block": (withTogether / k).toFixed(2),
        "vs 8 naive": `${((1 - withTogether / (8 * k)) * 100).toFixed(0)}% saved`,
      },
    ]),
  );
  // A third instance joining later: everything the first two fetched is served from Redis.
  const late = await started({ PEXD_DATABASE_URL: pgDb, PEXD_REDIS_URL: redis.url });
  proxy.reset();
  for (let n = 1; n <= k; n++) {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, false] });
    await fetch(`${late.url}/eth`, { method: "POST", headers: { "content-type": "application/json" }, body });
  }
  const lateCalls = proxy.count("eth_getBlockByNumber");
  const lateNoRedis = await started({});
  proxy.reset();
  for (let n = 1; n <= k; n++) {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, false] });
    await fetch(`${lateNoRedis.url}/eth`, { method: "POST", headers: { "content-type": "application/json" }, body });
  }
  const lateNoRedisCalls = proxy.count("eth_getBlockByNumber");
  say(`\nA new instance asking for the same ${k} blocks afterwards: ${lateCalls} upstream calls with Redis, ${lateNoRedisCalls} without.`);

  // kill -9 of one of two instances while 8 clients POST /next through nginx.
  let highest = 0;
  let stop = false;
  const errorsAt: number[] = [];
  let t0 = 0;
  const worker = async () => {
    while (!stop) {
      const r = await fetch(`${nginx.url}/next`, { method: "POST" }).catch(() => null);
      if (r?.status === 200) highest = Math.max(highest, ((await r.json()) as { index: number }).index);
      else {
        await r?.body?.cancel();
        errorsAt.push(performance.now());
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  await Bun.sleep(1000);
  t0 = performance.now();
  await pgB.pexd.stop("SIGKILL");
  await Bun.sleep(3000);
  stop = true;
  await Promise.all(workers);
  const current = ((await (await fetch(`${pgA.url}/current`)).json()) as { index: number }).index;
  const last = errorsAt.length ? Math.max(...errorsAt) - t0 : 0;
  record("kill-window", last, `${errorsAt.length} failed requests, nothing acknowledged lost: ${current >= highest}`);
  say(
    `\n## kill -9 of one of two instances under load (8 clients POST /next through nginx)\n\n${errorsAt.length} requests failed; the last failure ${last.toFixed(0)} ms after the kill; highest acknowledged index ${highest}, /current afterwards ${current} (${current >= highest ? "nothing acknowledged lost" : "LOST ACKNOWLEDGED STEPS"}).`,
  );
  await nginx.stop();
} finally {
  for (const s of servers.reverse()) await s.stop().catch(() => {});
  await redis.stop();
  await pg.stop();
  await proxy.stop();
  await anvil.stop();
}
if (opts.out) writeFileSync(opts.out, `${out.join("\n")}\n`);
