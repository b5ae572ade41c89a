// The WebSocket half of the gateway against a real anvil: the upstream multiplexer on its own
// (routing, reconnect, subscriptions surviving it, timeouts), then the real entry: /ws/* routes,
// client WebSockets at /eth and /socket2socket, shared subscriptions counted by a proxy, viem.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPublicClient, keccak256, webSocket, type Block } from "viem";
import { foundry } from "viem/chains";
import { silentLogger } from "../src/log.ts";
import { UpstreamError } from "../src/eth/transport.ts";
import type { WebSocketLike } from "../src/eth/ws/upstream.socket.ts";
import { WsTransport } from "../src/eth/ws/ws.transport.ts";
import { until } from "./helpers/wait.ts";
import { startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startCountingProxy, type CountingProxy } from "./helpers/counting-proxy.ts";
import { deadPort, stopped } from "./helpers/net.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";

const socket = (url: string, headers: Record<string, string>) =>
  new WebSocket(url, { headers } as unknown as string[]) as unknown as WebSocketLike;

const hex = (n: number) => `0x${n.toString(16)}`;

describe("WsTransport: the upstream multiplexer", () => {
  let anvil: Anvil;
  let ws: WsTransport;
  beforeAll(async () => {
    anvil = await startAnvil();
    await anvil.rpc("anvil_mine", [hex(40)]);
    ws = new WsTransport({
      upstreams: [{ label: "anvil", url: anvil.wsUrl }],
      timeoutMs: 5000,
      connect: socket,
      log: silentLogger,
      backoffMs: 50,
      maxBackoffMs: 500,
    });
  });
  afterAll(async () => {
    await ws?.close();
    await anvil?.stop();
  });

  test("500 concurrent calls on one connection each get their own answer", async () => {
    const calls = Array.from({ length: 500 }, (_, i) => {
      if (i % 2) return ws.call("eth_getBlockByNumber", [hex(i % 41), false]).then((r) => ({ i, r, want: hex(i % 41) }));
      const data = `0x${i.toString(16).padStart(8, "0")}`;
      return ws.call("web3_sha3", [data]).then((r) => ({ i, r, want: keccak256(data as `0x${string}`) }));
    });
    const out = await Promise.all(calls);
    for (const { i, r, want } of out) {
      if (i % 2) expect((r.result as { number: string }).number).toBe(want);
      else expect(r.result).toBe(want);
    }
    expect(ws.pending).toBe(0);
  });

  test("anvil killed and restarted on the same port: reconnects, calls succeed, the subscription resumes under the same id", async () => {
    const heads: string[] = [];
    const sub = await ws.subscriptions.subscribe(["newHeads"], (h) => heads.push((h as { number: string }).number));
    await anvil.rpc("evm_mine");
    await until("a head before the restart", () => heads.length >= 1);
    const reconnectsBefore = ws.reconnects;
    await anvil.restart();
    // Calls fail fast (upstream_unavailable) while the node is known down; once it answers again the
    // socket is back (the subscription keeps it wanted) and calls succeed.
    const chain = await until("a call answered after the restart", () => ws.call("eth_chainId", []).catch(() => null));
    expect(chain.result).toBe("0x7a69");
    expect(ws.reconnects).toBeGreaterThan(reconnectsBefore);
    const seen = heads.length;
    // The re-subscription is asynchronous: mine until a notification arrives on the same handle.
    await until("a head after the restart", async () => {
      await anvil.rpc("evm_mine");
      return heads.length > seen;
    });
    expect(sub.id).toMatch(/^s\d+$/);
    await sub.unsubscribe();
    expect(ws.subscriptions.size).toBe(0);
  });

  test("connection lost with calls in flight: the read is sent again on the new connection, the write fails clearly", async () => {
    const proxy = await startCountingProxy({ url: anvil.url, wsUrl: anvil.wsUrl });
    const t = new WsTransport({
      upstreams: [{ label: "proxy", url: proxy.wsUrl }],
      timeoutMs: 10_000,
      connect: socket,
      log: silentLogger,
      backoffMs: 20,
    });
    try {
      expect((await t.call("eth_chainId", [])).result).toBe("0x7a69");
      process.kill(anvil.pid, "SIGSTOP"); // both calls go out and stay unanswered
      await stopped(anvil.pid);
      const read = t.call("eth_chainId", []);
      const write = t.call("eth_sendRawTransaction", ["0x02"]).then(
        () => null,
        (e) => e,
      );
      await until("both calls in flight", () => t.pending === 2);
      proxy.dropWebSockets(); // the connection is lost; the proxy itself takes the next one at once
      const err = await write;
      process.kill(anvil.pid, "SIGCONT");
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe("upstream_error");
      expect((err as UpstreamError).message).toMatch(/may or may not have been applied/);
      expect((await read).result).toBe("0x7a69");
    } finally {
      process.kill(anvil.pid, "SIGCONT");
      await t.close();
      await proxy.stop();
    }
  });

  test("a refused reconnection fails the waiting read at once with upstream_unavailable; a later call reconnects", async () => {
    const proxy = await startCountingProxy({ url: anvil.url, wsUrl: anvil.wsUrl });
    const dead = `ws://127.0.0.1:${await deadPort()}`;
    let n = 0;
    // Connection 2 goes nowhere (refused); connection 3 reaches the node again.
    const flaky = new WsTransport({
      upstreams: [{ label: "proxy", url: proxy.wsUrl }],
      timeoutMs: 10_000,
      connect: (url, h) => socket(++n === 2 ? dead : url, h),
      log: silentLogger,
      backoffMs: 20,
    });
    try {
      expect((await flaky.call("eth_chainId", [])).result).toBe("0x7a69");
      process.kill(anvil.pid, "SIGSTOP");
      await stopped(anvil.pid);
      const read = flaky.call("eth_chainId", []).catch((e) => e);
      await until("the read in flight", () => flaky.pending === 1);
      proxy.dropWebSockets();
      const err = await read;
      process.kill(anvil.pid, "SIGCONT");
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe("upstream_unavailable");
      expect(flaky.health().map((h) => h.status)).toEqual(["down"]);
      const again = await until("a call answered once the socket is back", () => flaky.call("eth_chainId", []).catch(() => null));
      expect(again.result).toBe("0x7a69");
      expect(n).toBeGreaterThanOrEqual(3);
    } finally {
      process.kill(anvil.pid, "SIGCONT");
      await flaky.close();
      await proxy.stop();
    }
  });

  test("an upstream that stops answering gives upstream_timeout", async () => {
    const slow = new WsTransport({ upstreams: [{ label: "anvil", url: anvil.wsUrl }], timeoutMs: 300, connect: socket, log: silentLogger });
    try {
      expect((await slow.call("eth_chainId", [])).result).toBe("0x7a69");
      process.kill(anvil.pid, "SIGSTOP");
      await stopped(anvil.pid);
      const err = await slow.call("eth_blockNumber", []).catch((e) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).kind).toBe("upstream_timeout");
    } finally {
      process.kill(anvil.pid, "SIGCONT");
      await slow.close();
    }
  });

  test("no upstream configured: upstream_not_configured", async () => {
    const none = new WsTransport({ upstreams: [], timeoutMs: 300, connect: socket, log: silentLogger });
    const err = await none.call("eth_chainId", []).catch((e) => e);
    expect((err as UpstreamError).kind).toBe("upstream_not_configured");
  });
});

/** A raw WebSocket client that collects every message. */
async function client(url: string) {
  const msgs: unknown[] = [];
  const s = new WebSocket(url);
  let closed: { code: number; reason: string } | null = null;
  s.onmessage = (e) => msgs.push(JSON.parse(String(e.data)));
  s.onclose = (e) => (closed = { code: e.code, reason: e.reason });
  await new Promise<void>((resolve, reject) => {
    s.onopen = () => resolve();
    s.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
  let n = 0;
  return {
    socket: s,
    msgs,
    closed: () => closed,
    /** Sends and waits for the answer with that id (or for `match`). */
    async call(method: string, params: unknown[] = []): Promise<{ result?: unknown; error?: { code: number; message: string } }> {
      const id = `c${++n}`;
      s.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      return until(
        `answer to ${method}`,
        () =>
          msgs.find((m) => (m as { id?: string }).id === id) as { result?: unknown; error?: { code: number; message: string } } | undefined,
      );
    },
    notifications: (sub: string) =>
      msgs.filter((m) => (m as { params?: { subscription?: string } }).params?.subscription === sub) as {
        params: { result: { number?: string } };
      }[],
  };
}

describe("through the real entry", () => {
  let anvil: Anvil;
  let proxy: CountingProxy;
  let pexd: Pexd;
  let wsBase: string;
  beforeAll(async () => {
    anvil = await startAnvil();
    proxy = await startCountingProxy({ url: anvil.url, wsUrl: anvil.wsUrl });
    pexd = await startPexd({
      // A 64 KiB message limit here (default 5 MiB) so the oversize test stays small.
      env: { PEXD_ETH_HTTP_URL: proxy.url, PEXD_ETH_WS_URL: proxy.wsUrl, PEXD_LOG_LEVEL: "warn", PEXD_ETH_MAX_BODY_BYTES: "65536" },
    });
    wsBase = pexd.url.replace(/^http/, "ws");
    // The head tracker's newHeads subscription is up once eth_subscribe has been seen.
    await until("the head tracker's subscription", () => proxy.count("eth_subscribe") >= 1);
  });
  afterAll(async () => {
    await pexd?.dispose();
    await proxy?.stop();
    await anvil?.stop();
  });

  test("/ws/* answers equal the HTTP routes'", async () => {
    await anvil.rpc("evm_mine");
    for (const path of ["/eth_chainId", "/eth_coinbase", "/gasprice"]) {
      const a = await (await fetch(pexd.url + path)).json();
      const b = await (await fetch(`${pexd.url}/ws${path}`)).json();
      expect(b).toEqual(a);
    }
    const body = JSON.stringify({ block: 1, txdetails: false });
    const post = (p: string) =>
      fetch(pexd.url + p, { method: "POST", headers: { "content-type": "application/json" }, body }).then((r) => r.json());
    const [a, b] = await Promise.all([post("/blockbynumber"), post("/ws/blockbynumber")]);
    expect(b).toEqual(a);
    expect((b as { result: { number: string } }).result.number).toBe("0x1");
  });

  test("500 concurrent /ws/* requests all succeed with their own answers", async () => {
    await anvil.rpc("anvil_mine", [hex(20)]);
    const res = await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        const r = await fetch(`${pexd.url}/ws/blockbynumber`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ block: i % 20 }),
        });
        return { i, status: r.status, body: (await r.json()) as { result: { number: string } } };
      }),
    );
    for (const { i, status, body } of res) {
      expect(status).toBe(200);
      expect(body.result.number).toBe(hex(i % 20));
    }
  });

  test("JSON-RPC over a raw WebSocket at /socket2socket and /eth: calls, batches, errors", async () => {
    for (const path of ["/socket2socket", "/eth"]) {
      const c = await client(wsBase + path);
      expect((await c.call("eth_chainId")).result).toBe("0x7a69");
      expect((await c.call("admin_peers")).error?.code).toBe(-32601);
      c.socket.send(
        JSON.stringify([
          { jsonrpc: "2.0", id: 1, method: "net_version" },
          { jsonrpc: "2.0", id: 2, method: "eth_chainId" },
        ]),
      );
      const batch = await until(
        "the batch answer",
        () => c.msgs.find((m) => Array.isArray(m)) as { id: number; result: string }[] | undefined,
      );
      expect(batch.map((r) => [r.id, r.result])).toEqual([
        [1, "31337"],
        [2, "0x7a69"],
      ]);
      c.socket.send("{not json");
      const parseError = await until("-32700", () => c.msgs.find((m) => (m as { error?: { code: number } }).error?.code === -32700));
      expect(parseError).toBeTruthy();
      c.socket.close();
    }
  });

  test("identical subscriptions share one upstream subscription; notifications reach only subscribers; the last leaving unsubscribes upstream", async () => {
    const subsBefore = proxy.count("eth_subscribe");
    const unsubsBefore = proxy.count("eth_unsubscribe");
    const a = await client(`${wsBase}/eth`);
    const b = await client(`${wsBase}/socket2socket`);
    const bystander = await client(`${wsBase}/eth`);
    // newHeads: the head tracker already holds it, so two more clients add no upstream call.
    const sa = (await a.call("eth_subscribe", ["newHeads"])).result as string;
    const sb = (await b.call("eth_subscribe", ["newHeads"])).result as string;
    expect(sa).toMatch(/^0x[0-9a-f]{32}$/);
    expect(sb).not.toBe(sa);
    expect(proxy.count("eth_subscribe")).toBe(subsBefore);
    await anvil.rpc("evm_mine");
    await until("both notified", () => a.notifications(sa).length >= 1 && b.notifications(sb).length >= 1);
    expect(bystander.msgs.filter((m) => (m as { method?: string }).method === "eth_subscription")).toEqual([]);
    // A leaves (disconnects): B keeps receiving.
    a.socket.close();
    const bSeen = b.notifications(sb).length;
    await anvil.rpc("evm_mine");
    await until("B notified after A left", () => b.notifications(sb).length > bSeen);

    // logs: a kind nobody else holds. Two clients, one upstream subscription, unsubscribed after both leave.
    const la = (await b.call("eth_subscribe", ["logs", {}])).result as string;
    const lb = (await bystander.call("eth_subscribe", ["logs", {}])).result as string;
    expect(la).toBeString();
    expect(lb).toBeString();
    expect(proxy.count("eth_subscribe")).toBe(subsBefore + 1);
    expect((await b.call("eth_unsubscribe", [la])).result).toBe(true);
    expect((await b.call("eth_unsubscribe", [la])).result).toBe(false);
    expect(proxy.count("eth_unsubscribe")).toBe(unsubsBefore);
    bystander.socket.close(); // leaving by disconnect ends the last logs subscriber
    await until("the upstream eth_unsubscribe", () => proxy.count("eth_unsubscribe") === unsubsBefore + 1);
    b.socket.close();
  });

  test("viem's webSocket transport: getChainId and watchBlocks receive mined blocks", async () => {
    const pc = createPublicClient({ chain: foundry, transport: webSocket(`${wsBase}/eth`) });
    expect(await pc.getChainId()).toBe(31337);
    const blocks: Block[] = [];
    const unwatch = pc.watchBlocks({ onBlock: (b) => void blocks.push(b) });
    try {
      await until("two blocks", async () => {
        await anvil.rpc("evm_mine");
        return blocks.length >= 2;
      });
      expect(blocks[1]!.number).toBeGreaterThan(blocks[0]!.number!);
    } finally {
      unwatch();
      await (await pc.transport.getRpcClient()).close();
    }
  });

  test("a message over PEXD_ETH_MAX_BODY_BYTES closes that connection with 1009; others are unaffected", async () => {
    const big = await client(`${wsBase}/eth`);
    const other = await client(`${wsBase}/eth`);
    big.socket.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: ["x".repeat(70_000)] }));
    const closed = await until("the close", () => big.closed());
    expect(closed.code).toBe(1009);
    expect((await other.call("eth_chainId")).result).toBe("0x7a69");
    other.socket.close();
  });

  test("GET /eth without Upgrade is 426 upgrade_required; POST /eth still answers", async () => {
    const r = await fetch(`${pexd.url}/eth`);
    expect(r.status).toBe(426);
    expect(((await r.json()) as { code: string }).code).toBe("upgrade_required");
    const p = await fetch(`${pexd.url}/eth`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"jsonrpc":"2.0","id":7,"method":"eth_chainId"}',
    });
    expect(await p.json()).toEqual({ jsonrpc: "2.0", id: 7, result: "0x7a69" });
  });

  test("/metrics and /ready see the WebSocket side", async () => {
    const c = await client(`${wsBase}/eth`);
    const text = await (await fetch(`${pexd.url}/metrics`)).text();
    expect(text).toMatch(/^pexd_ws_clients [1-9]/m);
    expect(text).toMatch(/^pexd_ws_upstream_connected 1$/m);
    c.socket.close();
    const ready = (await (await fetch(`${pexd.url}/ready`)).json()) as { checks?: Record<string, string> };
    expect(ready.checks?.eth_head).toBe("ok");
  });
});

test("no upstream configured: a client WebSocket is closed with 1013 and /ws/* answers 503", async () => {
  const pexd = await startPexd({ env: { PEXD_LOG_LEVEL: "warn" } });
  try {
    const s = new WebSocket(`${pexd.url.replace(/^http/, "ws")}/eth`);
    const code = await new Promise<number>((resolve) => (s.onclose = (e) => resolve(e.code)));
    expect(code).toBe(1013);
    const r = await fetch(`${pexd.url}/ws/blocknumber`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { code: string }).code).toBe("upstream_not_configured");
  } finally {
    await pexd.dispose();
  }
});
