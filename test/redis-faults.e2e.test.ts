// Redis is an accelerator, not a dependency (docs/operations.md, "Scale-out"): a real redis-server with a
// password, stopped, frozen (SIGSTOP: it holds its connections and answers nothing) and started
// again under a running pexd. pexd keeps answering from its own cache, keeps enforcing the rate
// limit with its own buckets, says so in /ready (200, degraded) and metrics, never shows the
// password, and shares again once Redis is back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";
import { startRedis, type RedisServer } from "./helpers/redis.ts";
import { sample, until } from "./helpers/wait.ts";
import { need, skipping } from "./helpers/requirements.ts";

const PASSWORD = "redis-pw-never-shown-7f3a";
let anvil: Anvil;
let redis: RedisServer;
let pexd: Pexd;

// Needs real servers: a missing one fails with the command that installs it; PEXD_TEST_SKIP skips.
describe.skipIf(skipping("redis"))("Redis faults", () => {
  beforeAll(async () => {
    need("redis");
    anvil = await startAnvil();
    redis = await startRedis({ password: PASSWORD });
    pexd = await startPexd({
      env: { PEXD_ETH_HTTP_URL: anvil.url, PEXD_REDIS_URL: redis.url, PEXD_RATE_LIMIT: "20/s,burst=20", PEXD_LOG_LEVEL: "info" },
    });
  }, 60_000);

  afterAll(async () => {
    await pexd?.dispose();
    await redis?.stop();
    await anvil?.stop();
  });

  const rpc = (method: string, params: unknown[] = []) =>
    fetch(`${pexd.url}/eth`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
  const errors = async () => sample(await (await fetch(`${pexd.url}/metrics`)).text(), "pexd_redis_errors_total");
  const ready = async () => {
    const r = await fetch(`${pexd.url}/ready`);
    return { status: r.status, body: (await r.json()) as { status: string; checks?: Record<string, unknown> } };
  };
  /** The Redis entry of /ready's checks: "ok", or what went wrong. */
  const redisCheck = async () => {
    const r = await ready();
    const entry = Object.entries(r.body.checks ?? {}).find(([name]) => name.startsWith("redis "));
    return { status: r.status, name: entry?.[0], value: entry?.[1] };
  };
  /** Requests until one is refused with 429; how many passed. */
  const passedBefore429 = async () => {
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${pexd.url}/current`);
      await r.body?.cancel();
      if (r.status === 429) return i;
    }
    return Infinity;
  };

  describe("Redis failing under a running pexd", () => {
    test("while Redis works: cache entries and buckets are in Redis (with the password)", async () => {
      expect((await rpc("eth_chainId")).status).toBe(200);
      await until("a cache entry in Redis", () => redis.cli("--scan", "--pattern", "pexd:eth:*").length > 0);
      await Bun.sleep(1100); // refill
      expect(await passedBefore429()).toBeLessThanOrEqual(21);
      expect(redis.cli("--scan", "--pattern", "pexd:rl:*").length).toBeGreaterThan(0);
      expect(await redisCheck()).toEqual({ status: 200, name: `redis 127.0.0.1:${redis.port}`, value: "ok" });
      expect(await errors()).toBe(0);
    });

    test("Redis frozen (SIGSTOP): requests still answer, the limit still holds, /ready says degraded", async () => {
      redis.pause();
      try {
        await Bun.sleep(1100);
        // Each answered: at worst one Redis deadline (250 ms) before the fallback; never stuck.
        for (let i = 0; i < 5; i++) {
          const r = await rpc("eth_getBlockByNumber", ["0x0", false]);
          expect(r.status).toBe(200);
          expect(((await r.json()) as { result: { number: string } }).result.number).toBe("0x0");
        }
        // This instance's own buckets take over.
        await Bun.sleep(1100);
        const passed = await passedBefore429();
        expect(passed).toBeGreaterThanOrEqual(15);
        expect(passed).toBeLessThanOrEqual(21);
        expect(await errors()).toBeGreaterThan(0);
        const r = await redisCheck();
        expect(r.status).toBe(200);
        expect(r.name).toBe(`redis 127.0.0.1:${redis.port}`);
        expect(r.value).not.toBe("ok");
      } finally {
        redis.resume();
      }
    }, 30_000);

    test("Redis killed: same; started again on the same port: pexd shares again without a restart", async () => {
      const port = redis.port;
      await redis.stop();
      await Bun.sleep(1100); // the previous test emptied this client's bucket
      expect((await rpc("eth_chainId")).status).toBe(200);
      await until("pexd to notice", async () => (await redisCheck()).value !== "ok");
      expect((await ready()).status).toBe(200);
      redis = await startRedis({ password: PASSWORD, port });
      // The probe reconnects: /ready says ok again without any request needing Redis.
      await until("Redis healthy again", async () => (await redisCheck()).value === "ok", 15_000);
      const before = await errors();
      expect((await rpc("eth_getBlockByNumber", ["0x0", true])).status).toBe(200);
      await until("the entry shared again", () => redis.cli("--scan", "--pattern", "pexd:eth:*").length > 0);
      expect(await errors()).toBe(before);
    }, 40_000);

    test("the password never appears in logs, /ready, /metrics or errors", async () => {
      const texts = [pexd.output(), await (await fetch(`${pexd.url}/metrics`)).text(), JSON.stringify((await ready()).body)];
      for (const t of texts) expect(t).not.toContain(PASSWORD);
      // The address is named, so an operator knows which Redis.
      expect(pexd.output()).toContain(`127.0.0.1:${redis.port}`);
    });
  });
});
