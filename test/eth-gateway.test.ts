// EthGateway + HttpTransport against a real anvil behind a counting proxy: coalescing, the
// finality-aware cache, the byte bound, head drops, failover/health and the no-retry rule for writes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { deadPort } from "./helpers/net.ts";
import { parseConfig } from "../src/config.ts";
import { buildEthCore } from "../src/eth/eth.core.ts";
import { ethModule } from "../src/eth/eth.module.ts";
import { EthGateway } from "../src/eth/eth.gateway.ts";
import { UpstreamMetrics } from "../src/eth/eth.metrics.ts";
import { HttpTransport } from "../src/eth/http.transport.ts";
import { UpstreamError } from "../src/eth/transport.ts";
import { silentLogger } from "../src/log.ts";
import { memoryRuntime } from "../src/runtime/memory.ts";
import { signedTx, startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startCountingProxy, type CountingProxy } from "./helpers/counting-proxy.ts";

let anvil: Anvil;
let proxy: CountingProxy;

const up = (url: string) => ({ label: url, url });

function gatewayOver(url: string, opts: { ttl?: number; max?: number; depth?: number } = {}) {
  const metrics = new UpstreamMetrics();
  const transport = new HttpTransport({ upstreams: [up(url)], timeoutMs: 10_000, metrics });
  const gw = new EthGateway({
    transport,
    cacheTtlMs: opts.ttl ?? 60_000,
    cacheMaxBytes: opts.max ?? 1 << 24,
    finalityDepth: opts.depth ?? 2,
  });
  return { gw, transport, metrics };
}

beforeAll(async () => {
  anvil = await startAnvil();
  proxy = await startCountingProxy(anvil);
});

afterAll(async () => {
  await proxy?.stop();
  await anvil?.stop();
});

describe("gateway over anvil", () => {
  test("N identical concurrent reads share one upstream call; each caller keeps its id", async () => {
    const { gw } = gatewayOver(proxy.url);
    proxy.reset();
    const N = 25;
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        gw.handle({
          jsonrpc: "2.0",
          id: `c${i}`,
          method: "eth_getBalance",
          params: ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"],
        }),
      ),
    );
    expect(proxy.count("eth_getBalance")).toBe(1);
    expect(answers.filter((a) => a.cache === "MISS")).toHaveLength(1);
    expect(answers.filter((a) => a.cache === "COALESCED")).toHaveLength(N - 1);
    const direct = await anvil.rpc<string>("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest"]);
    answers.forEach((a, i) => {
      expect(a.response).toEqual({ jsonrpc: "2.0", id: `c${i}`, result: direct });
      expect(JSON.parse(a.text())).toEqual({ jsonrpc: "2.0", id: `c${i}`, result: direct });
    });
    const again = await gw.handle({
      jsonrpc: "2.0",
      id: 7,
      method: "eth_getBalance",
      params: ["0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266", "latest"],
    });
    expect(again.cache).toBe("HIT");
    expect(proxy.count("eth_getBalance")).toBe(1);
  });

  test("a new head drops head-dependent answers but keeps final blocks and constants", async () => {
    for (let i = 0; i < 6; i++) await anvil.rpc("evm_mine");
    const { gw } = gatewayOver(proxy.url, { depth: 2 });
    const head = BigInt(await anvil.rpc<string>("eth_blockNumber"));
    const call = (method: string, params: unknown[] = []) => gw.handle({ jsonrpc: "2.0", id: 1, method, params });
    expect((await call("eth_blockNumber")).cache).toBe("MISS");
    expect(gw.head).toBe(head);
    await call("eth_chainId");
    await call("eth_getBlockByNumber", ["0x1", false]); // final: 1 + 2 <= head
    await call("eth_getBlockByNumber", [`0x${head.toString(16)}`, false]); // not final
    await call("eth_getBlockByNumber", ["finalized", false]);
    expect((await call("eth_getBlockByNumber", ["0x1", false])).cache).toBe("HIT");
    expect((await call("eth_getBlockByNumber", [`0x${head.toString(16)}`, false])).cache).toBe("HIT");
    gw.onNewHead(head + 1n);
    expect((await call("eth_chainId")).cache).toBe("HIT");
    expect((await call("eth_getBlockByNumber", ["0x1", false])).cache).toBe("HIT");
    expect((await call("eth_getBlockByNumber", [`0x${head.toString(16)}`, false])).cache).toBe("MISS");
    expect((await call("eth_getBlockByNumber", ["finalized", false])).cache).toBe("MISS");
    expect((await call("eth_blockNumber")).cache).toBe("MISS");
  });

  test("a receipt by hash is kept only until the next head while recent, forever once final", async () => {
    const { gw } = gatewayOver(proxy.url, { depth: 2 });
    const raw = await signedTx(anvil);
    const hash = await anvil.rpc<string>("eth_sendRawTransaction", [raw]);
    // anvil mines it on its own, but its receipt can lag the hash by a moment on a busy machine.
    let mined: bigint | undefined;
    for (let i = 0; i < 200 && mined === undefined; i++) {
      const r = await anvil.rpc<{ blockNumber: string } | null>("eth_getTransactionReceipt", [hash]);
      if (r) mined = BigInt(r.blockNumber);
      else await Bun.sleep(25);
    }
    if (mined === undefined) throw new Error(`anvil did not mine ${hash} within 5 s`);
    const receipt = (n: number) => gw.handle({ jsonrpc: "2.0", id: n, method: "eth_getTransactionReceipt", params: [hash] });
    await gw.handle({ jsonrpc: "2.0", id: 0, method: "eth_blockNumber" });
    expect((await receipt(1)).cache).toBe("MISS");
    expect((await receipt(2)).cache).toBe("HIT");
    gw.onNewHead(mined + 1n); // a reorg could still move it
    expect((await receipt(3)).cache).toBe("MISS");
    gw.onNewHead(mined + 2n); // final now: the answer fetched from here on is kept across heads
    expect((await receipt(4)).cache).toBe("MISS");
    gw.onNewHead(mined + 3n);
    const last = await receipt(5);
    expect(last.cache).toBe("HIT");
    expect((last.response.result as { transactionHash: string }).transactionHash).toBe(hash);
  });

  test("null answers are not cached; upstream JSON-RPC errors pass unchanged and are not cached", async () => {
    const { gw } = gatewayOver(proxy.url);
    proxy.reset();
    const missing = `0x${"ab".repeat(32)}`;
    const a = await gw.handle({ jsonrpc: "2.0", id: 1, method: "eth_getTransactionReceipt", params: [missing] });
    const b = await gw.handle({ jsonrpc: "2.0", id: 2, method: "eth_getTransactionReceipt", params: [missing] });
    expect(a.response).toEqual({ jsonrpc: "2.0", id: 1, result: null });
    expect(b.cache).toBe("MISS");
    expect(proxy.count("eth_getTransactionReceipt")).toBe(2);
    const direct = await fetch(anvil.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "eth_getBlockByNumber", params: ["0xzz", false] }),
    }).then((r) => r.json() as Promise<{ error: unknown }>);
    const e1 = await gw.handle({ jsonrpc: "2.0", id: 9, method: "eth_getBlockByNumber", params: ["0xzz", false] });
    const e2 = await gw.handle({ jsonrpc: "2.0", id: 9, method: "eth_getBlockByNumber", params: ["0xzz", false] });
    expect(e1.response).toEqual({ jsonrpc: "2.0", id: 9, error: direct.error } as never);
    expect(e2.cache).toBe("MISS");
  });

  test("writes are neither coalesced nor cached, and the cache bound holds under many blocks", async () => {
    const { gw } = gatewayOver(proxy.url, { max: 4096 });
    const raw = await signedTx(anvil, { to: "0x000000000000000000000000000000000000dEaD" });
    proxy.reset();
    const sends = await Promise.all([1, 2].map((id) => gw.handle({ jsonrpc: "2.0", id, method: "eth_sendRawTransaction", params: [raw] })));
    expect(proxy.count("eth_sendRawTransaction")).toBe(2);
    expect(sends.every((s) => s.cache === "MISS")).toBe(true);
    expect(sends.some((s) => typeof s.response.result === "string")).toBe(true);
    const head = Number(await anvil.rpc<string>("eth_blockNumber"));
    for (let n = 0; n <= head; n++)
      await gw.handle({ jsonrpc: "2.0", id: n, method: "eth_getBlockByNumber", params: [`0x${n.toString(16)}`, true] });
    const s = gw.stats();
    expect(s.bytes).toBeLessThanOrEqual(4096);
    expect(s.evictions).toBeGreaterThan(0);
  });
});

describe("module", () => {
  test("metric families move with calls and carry no credentials", async () => {
    const config = parseConfig({ PEXD_ETH_HTTP_URL: proxy.url.replace("http://", "http://bob:pw123@") });
    // Not started: the head tracker's own polling would move the counts.
    const core = buildEthCore(config.eth, { log: silentLogger, connect: () => ({}) as never });
    const mod = ethModule(core, { upgrade: memoryRuntime().upgradeWebSocket, limits: { maxBodyBytes: 1 << 20, maxBatch: 100 } });
    expect(mod.name).toBe("eth");
    const call = (method: string) => core.gateway.handle({ jsonrpc: "2.0", id: 1, method });
    await call("eth_blockNumber");
    await call("eth_blockNumber");
    await call("eth_chainId");
    const fams = mod.metrics!();
    const val = (name: string) =>
      fams.find((f) => f.name === name)?.samples.reduce((a, x) => a + (x.suffix && x.suffix !== "_count" ? 0 : x.value), 0);
    expect(val("pexd_eth_cache_hits_total")).toBe(1);
    expect(val("pexd_eth_cache_misses_total")).toBe(2);
    expect(val("pexd_eth_upstream_requests_total")).toBe(2);
    expect(val("pexd_eth_upstream_request_duration_seconds")).toBe(2);
    expect(val("pexd_eth_head_block")).toBe(Number(await anvil.rpc<string>("eth_blockNumber")));
    expect(val("pexd_eth_cache_bytes")).toBeGreaterThan(0);
    expect(JSON.stringify(fams)).not.toContain("pw123");
    expect(mod.checks?.map((c) => c.name)).toEqual([`eth_upstream ${proxy.url}`, "eth_head"]);
    await mod.checks![0]!.check();
    await core.close();
  });
});

describe("HTTP transport", () => {
  test("fails over past a dead upstream, then skips it while its circuit is open", async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const metrics = new UpstreamMetrics();
    const t = new HttpTransport({ upstreams: [up(dead), up(anvil.url)], timeoutMs: 10_000, metrics });
    for (let i = 0; i < 5; i++) {
      const r = await t.call("eth_chainId", []);
      expect(r.result).toBe("0x7a69");
    }
    // A refused connection opens the circuit at once: one failed attempt, then skipped.
    expect(metrics.total("upstream_error")).toBe(1);
    expect(metrics.total("ok")).toBe(5);
    expect(t.health().map((h) => [h.upstream, h.state, h.status])).toEqual([
      [dead, "open", "down"],
      [anvil.url, "closed", "up"],
    ]);
  });

  test("every upstream known to be down: a call fails at once with upstream_unavailable", async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const t = new HttpTransport({ upstreams: [up(dead)], timeoutMs: 10_000, retries: 0 });
    expect(((await t.call("eth_chainId", []).catch((e: unknown) => e)) as UpstreamError).kind).toBe("upstream_error");
    const e = (await t.call("eth_chainId", []).catch((x: unknown) => x)) as UpstreamError;
    expect(e.kind).toBe("upstream_unavailable");
    expect(e.message).toContain(dead);
  });

  test("reads are retried with backoff, writes are sent once", async () => {
    // An upstream that answers 503 (a load balancer with no backend): failures, not a certain death.
    let hits = 0;
    const flaky = Bun.serve({
      port: 0,
      fetch: () => {
        hits++;
        return new Response("unavailable", { status: 503 });
      },
    });
    try {
      const metrics = new UpstreamMetrics();
      const t = new HttpTransport({
        upstreams: [up(`http://127.0.0.1:${flaky.port}`)],
        timeoutMs: 10_000,
        retries: 2,
        backoffMs: 5,
        metrics,
      });
      const read = await t.call("eth_blockNumber", []).catch((e: unknown) => e);
      expect(read).toBeInstanceOf(UpstreamError);
      expect((read as UpstreamError).kind).toBe("upstream_error");
      expect(hits).toBe(3);
      // Three failures in a row opened the circuit: the next call fails at once, sending nothing.
      const write = await t.call("eth_sendRawTransaction", ["0x00"]).catch((e: unknown) => e);
      expect((write as UpstreamError).kind).toBe("upstream_unavailable");
      expect(hits).toBe(3);
      expect(metrics.total()).toBe(3);
    } finally {
      flaky.stop(true);
    }
  });

  test("a write is sent once: a failure after it may have reached the node is not retried elsewhere", async () => {
    let hits = 0;
    const flaky = Bun.serve({
      port: 0,
      fetch: () => {
        hits++;
        return new Response("oops", { status: 502 });
      },
    });
    try {
      const t = new HttpTransport({ upstreams: [up(`http://127.0.0.1:${flaky.port}`), up(anvil.url)], timeoutMs: 10_000, retries: 2 });
      const write = await t.call("eth_sendRawTransaction", ["0x00"]).catch((e: unknown) => e);
      expect((write as UpstreamError).kind).toBe("upstream_error");
      expect(hits).toBe(1);
    } finally {
      flaky.stop(true);
    }
  });

  test("a silent upstream is a timeout; credentials in the URL never reach errors or labels", async () => {
    // A listener that accepts and never answers: a hung node.
    const sockets: { destroy(): void }[] = [];
    const srv = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    try {
      const t = new HttpTransport({
        upstreams: [
          { label: `http://127.0.0.1:${port}/…`, url: `http://127.0.0.1:${port}/v3/secretproject`, authorization: "Basic c2VjcmV0" },
        ],
        timeoutMs: 200,
      });
      const e = await t.call("eth_blockNumber", []).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(UpstreamError);
      expect((e as UpstreamError).kind).toBe("upstream_timeout");
      expect((e as UpstreamError).message).not.toContain("secretproject");
      expect((e as UpstreamError).message).not.toContain("c2VjcmV0");
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
