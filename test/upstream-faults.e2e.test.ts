// Upstreams that hang or vanish (docs/faults.md), through the real entry and a real anvil: a silent primary
// beside a healthy secondary (hedged reads, the circuit opens, /ready stays 200 degraded), sockets
// bounded under 200 concurrent reads, the upstream WebSocket known down (calls fail at once),
// subscriptions resuming after 20 restarts of the node, and heads mined during an outage backfilled
// in order.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startCountingProxy, type CountingProxy } from "./helpers/counting-proxy.ts";
import { blackHole, connectionsTo } from "./helpers/net.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";
import { sample, until } from "./helpers/wait.ts";

const JSON_CT = { "content-type": "application/json" };
let anvil: Anvil;
const started: Pexd[] = [];
beforeAll(async () => {
  anvil = await startAnvil();
});
afterAll(async () => {
  for (const p of started) await p.dispose();
  await anvil?.stop();
});
const pexd = async (env: Record<string, string>) => {
  const p = await startPexd({ env: { PEXD_LOG_LEVEL: "warn", ...env } });
  started.push(p);
  return p;
};

const balance = (i: number) => ({
  jsonrpc: "2.0",
  id: i,
  method: "eth_getBalance",
  params: [`0x${(i + 1).toString(16).padStart(40, "0")}`, "latest"],
});

describe("HTTP upstreams", () => {
  test("a silent primary beside a healthy secondary: reads are hedged and answered long before the timeout; the circuit opens; /ready is 200 degraded", async () => {
    const hole = await blackHole();
    try {
      const p = await pexd({ PEXD_ETH_HTTP_URL: `${hole.url},${anvil.url}`, PEXD_ETH_TIMEOUT_MS: "10000", PEXD_ETH_CACHE_TTL_MS: "0" });
      // 200 concurrent distinct reads (none cached, none coalesced): every one answered correctly.
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          fetch(`${p.url}/eth`, { method: "POST", headers: JSON_CT, body: JSON.stringify(balance(i)) }).then(async (r) => ({
            status: r.status,
            body: (await r.json()) as { id: number; result?: string },
          })),
        ),
      );
      expect(answers.filter((a) => a.status !== 200 || typeof a.body.result !== "string")).toEqual([]);
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      expect(sample(metrics, "pexd_eth_upstream_hedged_total")).toBeGreaterThan(0);
      // Slower than the secondary in consecutive hedged reads: the primary's circuit is open now.
      await until("the primary's circuit open", async () => {
        const text = await (await fetch(`${p.url}/metrics`)).text();
        return sample(text, "pexd_eth_upstream_up", { upstream: hole.url, transport: "http" }) === 0;
      });
      const ready = await fetch(`${p.url}/ready`);
      expect(ready.status).toBe(200);
      const body = (await ready.json()) as { status: string; checks: Record<string, string> };
      expect(body.status).toBe("degraded");
      expect(body.checks[`eth_upstream ${hole.url}`]).toMatch(/^down: /);
      expect(body.checks[`eth_upstream ${anvil.url}`]).toBe("ok");
    } finally {
      await hole.stop();
    }
  }, 60_000);

  test("200 concurrent reads hold at most 2 × the pool of connections to the upstream (keep-alive reused)", async () => {
    const proxy = await startCountingProxy(anvil);
    try {
      const p = await pexd({ PEXD_ETH_HTTP_URL: proxy.url, PEXD_ETH_CACHE_TTL_MS: "0" });
      let peak = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, connectionsTo(proxy.port, p.pid));
      }, 5);
      proxy.pause(); // answers held: every call stays in flight together
      const calls = Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          fetch(`${p.url}/eth`, { method: "POST", headers: JSON_CT, body: JSON.stringify(balance(1000 + i)) }),
        ),
      );
      await proxy.waitPending(16);
      await Bun.sleep(200); // anything beyond the pool would be opening now
      proxy.resume();
      const rs = await calls;
      clearInterval(sampler);
      expect(rs.every((r) => r.status === 200)).toBe(true);
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(2 * 16);
      // Kept alive: a second wave reuses connections instead of opening 200 more.
      const before = proxy.httpRequests();
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          fetch(`${p.url}/eth`, { method: "POST", headers: JSON_CT, body: JSON.stringify(balance(2000 + i)) }),
        ),
      );
      expect(proxy.httpRequests() - before).toBeGreaterThanOrEqual(200); // and the head tracker's polls
      expect(connectionsTo(proxy.port, p.pid)).toBeLessThanOrEqual(2 * 16);
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});

describe("the upstream WebSocket", () => {
  test("known down (connection refused): /ws/* and client calls fail at once with upstream_unavailable, not at the timeout", async () => {
    const a = await startAnvil();
    try {
      const p = await pexd({ PEXD_ETH_WS_URL: a.wsUrl, PEXD_ETH_TIMEOUT_MS: "30000" });
      await until("connected", async () => (await fetch(`${p.url}/ws/eth_chainId`)).status === 200);
      await a.stop();
      // The connection drops, the reconnect is refused: known down.
      const r = await until("known down", async () => {
        const res = await fetch(`${p.url}/ws/blocknumber`);
        return res.status === 503 ? res : null;
      });
      expect(((await r.json()) as { code: string }).code).toBe("upstream_unavailable");
      const c = new WebSocket(`${p.url.replace(/^http/, "ws")}/eth`);
      await new Promise((res) => (c.onopen = res));
      const answer = new Promise<{ error?: { code: number; data?: { code: string } } }>(
        (res) => (c.onmessage = (e) => res(JSON.parse(String(e.data)))),
      );
      // Never cached (pending state), so it has to go upstream.
      c.send(
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "eth_getTransactionCount",
          params: ["0x0000000000000000000000000000000000000001", "pending"],
        }),
      );
      expect((await answer).error).toMatchObject({ code: -32603, data: { code: "upstream_unavailable" } });
      c.close();
    } finally {
      await a.stop();
    }
  }, 60_000);

  test("after each of 20 restarts of the node, a newHeads subscriber receives heads again", async () => {
    const a = await startAnvil();
    try {
      const p = await pexd({ PEXD_ETH_WS_URL: a.wsUrl });
      const heads: number[] = [];
      const c = new WebSocket(`${p.url.replace(/^http/, "ws")}/eth`);
      await new Promise((res) => (c.onopen = res));
      let subscribed: (ok: boolean) => void = () => {};
      const answer = new Promise<boolean>((res) => (subscribed = res));
      c.onmessage = (e) => {
        const m = JSON.parse(String(e.data)) as { id?: number; result?: string; method?: string; params?: { result: { number: string } } };
        if (m.id === 1) subscribed(typeof m.result === "string");
        if (m.method === "eth_subscription") heads.push(Number(m.params!.result.number));
      };
      c.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
      // A subscription the node confirmed (one asked while it is known down fails at once instead).
      expect(await answer).toBe(true);
      const resumed: number[] = [];
      for (let i = 0; i < 20; i++) {
        await a.restart();
        const t0 = Date.now();
        const seen = heads.length;
        await until(`heads after restart ${i + 1}`, async () => {
          await a.rpc("evm_mine");
          return heads.length > seen;
        });
        resumed.push(Date.now() - t0);
      }
      expect(resumed).toHaveLength(20);
      console.log(
        `newHeads resumed after each of 20 restarts: max ${Math.max(...resumed)} ms, median ${resumed.sort((x, y) => x - y)[10]} ms`,
      );
      c.close();
    } finally {
      await a.stop();
    }
  }, 180_000);

  test("heads mined while the upstream connection was down reach newHeads subscribers in order, without a gap", async () => {
    let proxy: CountingProxy = await startCountingProxy(anvil);
    const port = proxy.port;
    try {
      const p = await pexd({ PEXD_ETH_WS_URL: proxy.wsUrl, PEXD_LOG_LEVEL: "info" });
      const heads: number[] = [];
      const c = new WebSocket(`${p.url.replace(/^http/, "ws")}/eth`);
      await new Promise((res) => (c.onopen = res));
      c.onmessage = (e) => {
        const m = JSON.parse(String(e.data)) as { method?: string; params?: { result: { number: string; hash: string } } };
        if (m.method === "eth_subscription") heads.push(Number(m.params!.result.number));
      };
      c.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"] }));
      await until("a first head", async () => {
        await anvil.rpc("evm_mine");
        return heads.length > 0;
      });
      // The path to the node goes away; the node goes on mining.
      await proxy.stop();
      for (let i = 0; i < 6; i++) await anvil.rpc("evm_mine");
      proxy = await startCountingProxy(anvil, { port });
      const head = Number(await anvil.rpc<string>("eth_blockNumber"));
      await until("the head after the outage", async () => {
        if (heads.at(-1)! <= head) await anvil.rpc("evm_mine");
        return heads.at(-1)! > head;
      });
      // Consecutive numbers from the first head to the last: the outage left no gap.
      const first = heads[0]!;
      expect(heads).toEqual(Array.from({ length: heads.length }, (_, i) => first + i));
      await until("the gap logged", () => p.logs.some((l) => l.msg === "newHeads gap filled"));
      c.close();
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});
