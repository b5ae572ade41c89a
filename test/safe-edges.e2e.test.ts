// pexd against hostile clients (docs/security.md), through the real entry, a real anvil and real sockets. Each
// block reproduces a finding that held on the earlier main: the node's own signer reachable, no rate
// limit, giant WebSocket messages buffered whole, idle relay connections turning sends into silent
// losses, stored documents served as live HTML, HEAD stepping the counter, secrets echoed, real
// clients refused.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { createPublicClient, http, parseEther } from "viem";
import { foundry } from "viem/chains";
import { ANVIL_ADDRESS_0, signedTx, startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startCountingProxy, type CountingProxy } from "./helpers/counting-proxy.ts";
import { pexdCommand, ROOT, startPexd, type Pexd } from "./helpers/pexd.ts";
import { rssBytes, sample, until } from "./helpers/wait.ts";

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
const pexd = async (env: Record<string, string>, args: string[] = []) => {
  const p = await startPexd({ env: { PEXD_LOG_LEVEL: "warn", ...env }, args });
  started.push(p);
  return p;
};
const rpc = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}/eth`, { method: "POST", headers: { ...JSON_CT, ...headers }, body: JSON.stringify(body) });

/** A client WebSocket that collects answers by id. */
async function wsClient(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, { headers } as unknown as string[]);
  const answers = new Map<unknown, { result?: unknown; error?: { code: number; message: string; data?: unknown } }>();
  let closed: { code: number } | null = null;
  socket.onmessage = (e) => {
    const msg = JSON.parse(String(e.data));
    for (const m of Array.isArray(msg) ? msg : [msg]) answers.set(m.id, m);
  };
  socket.onclose = (e) => {
    closed = { code: e.code };
  };
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
  return {
    socket,
    answers,
    closed: () => closed,
    call: async (id: number, method: string, params: unknown[] = []) => {
      socket.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      return until(`answer ${id}`, () => answers.get(id));
    },
  };
}

describe("method policy: the node's own signer is out of reach (HTTP and WebSocket)", () => {
  let p: Pexd;
  beforeAll(async () => {
    p = await pexd({ PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_WS_URL: anvil.wsUrl, PEXD_API_TOKEN: "operator-token-123" });
  });

  const send = { from: ANVIL_ADDRESS_0, to: "0x000000000000000000000000000000000000dEaD", value: `0x${parseEther("1").toString(16)}` };
  const refusedCalls: [string, unknown[]][] = [
    ["eth_sendTransaction", [send]],
    ["eth_sign", [ANVIL_ADDRESS_0, "0xdeadbeef"]],
    ["eth_signTransaction", [send]],
    ["eth_signTypedData_v4", [ANVIL_ADDRESS_0, "{}"]],
  ];

  test("POST /eth: eth_sendTransaction and the signing methods answer -32601 naming the rule; no ETH moves, token or not", async () => {
    const before = await anvil.rpc<string>("eth_getBalance", [ANVIL_ADDRESS_0, "latest"]);
    for (const headers of [{}, { authorization: "Bearer operator-token-123" }] as Record<string, string>[]) {
      for (const [method, params] of refusedCalls) {
        const body = (await (await rpc(p.url, { jsonrpc: "2.0", id: 7, method, params }, headers)).json()) as {
          id: number;
          error: { code: number; message: string };
        };
        expect(body.id).toBe(7);
        expect(body.error.code).toBe(-32601);
        expect(body.error.message).toContain("PEXD_ETH_METHODS_DENY");
        expect(body.error.message).toContain("eth_sendRawTransaction");
      }
    }
    expect(await anvil.rpc<string>("eth_getBalance", [ANVIL_ADDRESS_0, "latest"])).toBe(before);
  });

  test("the same over a client WebSocket from any Origin, and eth_sendRawTransaction (client-signed) passes", async () => {
    const before = await anvil.rpc<string>("eth_getBalance", [ANVIL_ADDRESS_0, "latest"]);
    const c = await wsClient(`${p.url.replace(/^http/, "ws")}/eth`, { origin: "https://evil.example" });
    let id = 1;
    for (const [method, params] of refusedCalls) {
      const a = await c.call(id++, method, params);
      expect(a.error?.code).toBe(-32601);
    }
    const raw = await signedTx(anvil);
    const sent = await c.call(id++, "eth_sendRawTransaction", [raw]);
    expect(typeof sent.result).toBe("string");
    expect(BigInt(await anvil.rpc<string>("eth_getBalance", [ANVIL_ADDRESS_0, "latest"]))).toBeLessThan(BigInt(before));
    c.socket.close();
  });

  test("PEXD_ETH_METHODS_ALLOW lets only its methods through; the deny list still wins", async () => {
    const q = await pexd({ PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_METHODS_ALLOW: "eth_chainId,eth_send*" });
    const chain = (await (await rpc(q.url, { jsonrpc: "2.0", id: 1, method: "eth_chainId" })).json()) as { result: string };
    expect(chain.result).toBe("0x7a69");
    const other = (await (await rpc(q.url, { jsonrpc: "2.0", id: 2, method: "eth_blockNumber" })).json()) as {
      error: { code: number; message: string };
    };
    expect(other.error).toMatchObject({ code: -32601, message: expect.stringContaining("PEXD_ETH_METHODS_ALLOW") });
    const denied = (await (await rpc(q.url, { jsonrpc: "2.0", id: 3, method: "eth_sendTransaction", params: [send] })).json()) as {
      error: { code: number; message: string };
    };
    expect(denied.error).toMatchObject({ code: -32601, message: expect.stringContaining("PEXD_ETH_METHODS_DENY") });
    // The REST routes call through the same policy.
    expect(((await (await fetch(`${q.url}/blocknumber`)).json()) as { error: { code: number } }).error.code).toBe(-32601);
  });
});

describe("rate limits: one client's flood is refused, upstream calls stay bounded, others are served", () => {
  let proxy: CountingProxy;
  let p: Pexd;
  // 20 per hour: nothing refills during the test, so every count below is exact.
  beforeAll(async () => {
    proxy = await startCountingProxy(anvil);
    p = await pexd({
      PEXD_ETH_HTTP_URL: proxy.url,
      PEXD_ETH_WS_URL: proxy.wsUrl,
      PEXD_RATE_LIMIT: "20/h",
      PEXD_TRUSTED_PROXIES: "127.0.0.1/32",
      PEXD_API_TOKEN: "limit-token",
    });
  });
  afterAll(async () => {
    await proxy?.stop();
  });
  const as = (ip: string) => ({ "x-forwarded-for": ip });
  // Never cached (pending state): every granted call reaches the upstream.
  const uncached = (id: number) => ({ jsonrpc: "2.0", id, method: "eth_getTransactionCount", params: [ANVIL_ADDRESS_0, "pending"] });

  test("each call of a batch counts: 20 go upstream, the rest answer -32005 with retry_after_ms; all refused → 429", async () => {
    proxy.reset();
    const batch = Array.from({ length: 50 }, (_, i) => uncached(i));
    const r = await rpc(p.url, batch, as("203.0.113.10"));
    expect(r.status).toBe(200);
    const answers = (await r.json()) as { id: number; result?: string; error?: { code: number; data: { retry_after_ms: number } } }[];
    expect(answers.map((a) => a.id)).toEqual(batch.map((b) => b.id));
    expect(answers.filter((a) => a.result !== undefined)).toHaveLength(20);
    const refused = answers.filter((a) => a.error);
    expect(refused).toHaveLength(30);
    for (const a of refused) {
      expect(a.error!.code).toBe(-32005);
      expect(a.error!.data.retry_after_ms).toBeGreaterThan(0);
    }
    expect(proxy.count("eth_getTransactionCount")).toBe(20);
    // Nothing left: the whole answer is refused, so HTTP says 429 too, with Retry-After.
    const again = await rpc(p.url, uncached(99), as("203.0.113.10"));
    expect(again.status).toBe(429);
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await again.json()) as { id: number; error: { code: number } }).error.code).toBe(-32005);
    // REST routes: 429 with the error body.
    const rest = await fetch(`${p.url}/blocknumber`, { headers: as("203.0.113.10") });
    expect(rest.status).toBe(429);
    expect(rest.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await rest.json()) as { code: string }).code).toBe("rate_limited");
    expect(proxy.count("eth_getTransactionCount")).toBe(20);
    // Health checks are never refused.
    expect((await fetch(`${p.url}/health`, { headers: as("203.0.113.10") })).status).toBe(200);
  });

  test("another client (address) has its own bucket; the API token is a client of its own", async () => {
    expect((await rpc(p.url, uncached(1), as("198.51.100.7"))).status).toBe(200);
    expect((await fetch(`${p.url}/current`, { headers: as("198.51.100.7") })).status).toBe(200);
    const withToken = await fetch(`${p.url}/current`, { headers: { ...as("203.0.113.10"), authorization: "bearer limit-token" } });
    expect(withToken.status).toBe(200);
  });

  test("X-Forwarded-For from a peer that is not a trusted proxy is ignored", async () => {
    const q = await pexd({ PEXD_ETH_HTTP_URL: proxy.url, PEXD_RATE_LIMIT: "3/h" });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${q.url}/current`, { headers: as(`192.0.2.${i}`) })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
  });

  test("client WebSocket: each call counts, refused calls answer -32005, the connection stays open", async () => {
    const c = await wsClient(`${p.url.replace(/^http/, "ws")}/eth`, as("203.0.113.77"));
    const batch = Array.from({ length: 25 }, (_, i) => ({ jsonrpc: "2.0", id: 1000 + i, method: "eth_chainId" }));
    c.socket.send(JSON.stringify(batch));
    await until("25 answers", () => c.answers.size >= 25);
    const errors = [...c.answers.values()].filter((a) => a.error);
    expect(errors).toHaveLength(5);
    expect(errors.every((e) => e.error!.code === -32005)).toBe(true);
    expect(c.closed()).toBeNull();
    const over = await c.call(5000, "eth_chainId");
    expect(over.error?.code).toBe(-32005);
    expect(c.closed()).toBeNull();
    c.socket.close();
  });

  test("/metrics counts what the limit refused, by where it came in", async () => {
    const text = await (await fetch(`${p.url}/metrics`, { headers: as("198.51.100.200") })).text();
    expect(sample(text, "pexd_rate_limited_total", { kind: "rpc" })).toBeGreaterThanOrEqual(31);
    expect(sample(text, "pexd_rate_limited_total", { kind: "http" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "pexd_rate_limited_total", { kind: "ws" })).toBeGreaterThanOrEqual(6);
  });
});

describe("limits at the protocol edge, before buffering; real clients fit", () => {
  let p: Pexd;
  beforeAll(async () => {
    p = await pexd({ PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_WS_URL: anvil.wsUrl });
  });

  test("20 client WebSockets each sending a 15 MB message are closed with 1009; RSS grows by under 64 MiB", async () => {
    const before = await rssBytes(p.pid);
    const huge = `{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["${"x".repeat(15 * 1024 * 1024)}"]}`;
    const clients = await Promise.all(Array.from({ length: 20 }, () => wsClient(`${p.url.replace(/^http/, "ws")}/eth`)));
    for (const c of clients) c.socket.send(huge);
    const codes = await Promise.all(clients.map((c) => until("the close", () => c.closed(), 60_000)));
    expect(codes.map((c) => c.code)).toEqual(Array(20).fill(1009));
    const grown = (await rssBytes(p.pid)) - before;
    expect(grown).toBeLessThan(64 * 1024 * 1024);
    const text = await (await fetch(`${p.url}/metrics`)).text();
    expect(sample(text, "pexd_ws_closed_total", { reason: "message_too_big" })).toBe(20);
  }, 120_000);

  test("POST /eth over PEXD_ETH_MAX_BODY_BYTES: 413 with a JSON-RPC error, with or without Content-Length", async () => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: ["x".repeat(6 * 1024 * 1024)] });
    const r = await fetch(`${p.url}/eth`, { method: "POST", headers: JSON_CT, body });
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: { code: number; message: string } }).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining("PEXD_ETH_MAX_BODY_BYTES"),
    });
    // Chunked (no Content-Length): counted while it streams in.
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        const chunk = new Uint8Array(1024 * 1024).fill(0x20);
        for (let i = 0; i < 7; i++) ctl.enqueue(chunk);
        ctl.close();
      },
    });
    const chunked = await fetch(`${p.url}/eth`, { method: "POST", headers: JSON_CT, body: stream });
    expect(chunked.status).toBe(413);
  });

  test("viem's default batching (150 calls in one batch) and an 80 KB eth_sendRawTransaction go through", async () => {
    const client = createPublicClient({ chain: foundry, transport: http(`${p.url}/eth`, { batch: { batchSize: 1000, wait: 10 } }) });
    const numbers = await Promise.all(
      Array.from({ length: 150 }, (_, i) => client.getBalance({ address: `0x${(i + 1).toString(16).padStart(40, "0")}` })),
    );
    expect(numbers).toHaveLength(150);
    const raw = await signedTx(anvil, { data: `0x${"ab".repeat(80 * 1024)}`, gas: 5_000_000n });
    expect(raw.length).toBeGreaterThan(160 * 1024);
    const r = (await (await rpc(p.url, { jsonrpc: "2.0", id: 1, method: "eth_sendRawTransaction", params: [raw] })).json()) as {
      result: string;
    };
    expect(r.result).toMatch(/^0x[0-9a-f]{64}$/);
    const receipt = await until("the receipt", () => anvil.rpc<{ status: string } | null>("eth_getTransactionReceipt", [r.result]));
    expect(receipt.status).toBe("0x1");
  });
});

describe("relay: senders count a block only when the server acknowledges it", () => {
  test("256 idle connections to the relay port while anvil mines: every block arrives; busy answers are retried and counted", async () => {
    const relayPort = await freePort();
    const p = await pexd({
      PEXD_ETH_HTTP_URL: anvil.url,
      PEXD_ETH_WS_URL: anvil.wsUrl,
      PEXD_RELAY_PORT: String(relayPort),
      PEXD_RELAY_TARGETS: `127.0.0.1:${relayPort}`,
      PEXD_LOG_LEVEL: "info",
    });
    const startBlock = Number((await until("watcher started", () => p.logs.find((l) => l.msg === "relay watcher started"))).start_block);
    // 32 connections (the per-address limit) that keep a frame open by trickling a byte at a time
    // cannot be evicted as idle; 224 more idle ones get busy at once.
    const sockets: Socket[] = [];
    for (let i = 0; i < 256; i++) sockets.push(connect(relayPort, "127.0.0.1"));
    await Promise.all(sockets.map((s) => new Promise((r) => (s.readyState === "open" ? r(null) : s.once("connect", r)))));
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write(s.bytesWritten === 0 ? "100000:" : "a");
    }, 200);
    try {
      for (let i = 0; i < 5; i++) await anvil.rpc("evm_mine");
      await until(
        "a busy answer retried",
        async () => sample(await (await fetch(`${p.url}/metrics`)).text(), "pexd_relay_sent_total", { outcome: "busy" }) >= 1,
      );
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    }
    for (let i = 0; i < 5; i++) await anvil.rpc("evm_mine");
    const head = Number(await anvil.rpc<string>("eth_blockNumber"));
    const numbers = await until(
      "every block stored",
      async () => {
        const { items } = (await (await fetch(`${p.url}/stats/blocks?limit=1000`)).json()) as { items: { number: number }[] };
        const have = new Set(items.map((b) => b.number));
        for (let n = startBlock; n <= head; n++) if (!have.has(n)) return null;
        return have;
      },
      60_000,
    );
    expect(numbers.size).toBeGreaterThanOrEqual(head - startBlock + 1);
    const text = await (await fetch(`${p.url}/metrics`)).text();
    const target = `127.0.0.1:${relayPort}`;
    expect(sample(text, "pexd_relay_retries_total", { target })).toBeGreaterThanOrEqual(1);
    // Delivered means acknowledged: one ok per stored block, none counted for a busy answer.
    expect(sample(text, "pexd_relay_sent_total", { target, outcome: "ok" })).toBe(head - startBlock + 1);
    expect(sample(text, "pexd_relay_connections_refused_total", { reason: "busy" })).toBeGreaterThanOrEqual(224);
  }, 120_000);

  test("a stored <script> document is served with Content-Security-Policy: sandbox and nosniff", async () => {
    const relayPort = await freePort();
    const p = await pexd({ PEXD_RELAY_PORT: String(relayPort) });
    const doc = `<html><head><meta name="block-number" content="4242"></head><body><script>fetch("/next",{method:"POST"})</script></body></html>`;
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(relayPort, "127.0.0.1", () => s.write(`${Buffer.byteLength(doc)}:${doc},`));
      let got = "";
      s.on("data", (d) => {
        got += d.toString();
        if (got.endsWith(",")) {
          s.end();
          resolve(got);
        }
      });
      s.on("error", reject);
    });
    expect(answer).toBe("6:stored,");
    const r = await fetch(`${p.url}/stats/blocks/4242`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-security-policy")).toBe("sandbox");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await r.text()).toBe(doc);
  });
});

describe("HTTP semantics and secrets", () => {
  test("a malformed chunked body is the client's fault: 400, never counted as a 500 nor logged as an error", async () => {
    const p = await pexd({ PEXD_LOG_LEVEL: "info" });
    for (const path of ["/rpc/associate_widgets", "/rpc/add_widget", "/eth"]) {
      const answer = await new Promise<string>((resolve) => {
        const s = connect(p.port, "127.0.0.1", () =>
          s.write(
            `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"wid\r\nzz\r\n`,
          ),
        );
        let got = "";
        s.on("data", (d) => (got += d.toString()));
        s.on("close", () => resolve(got));
        s.on("error", () => {});
      });
      expect(answer).toStartWith("HTTP/1.1 400");
    }
    const metrics = await (await fetch(`${p.url}/metrics`)).text();
    expect(metrics).not.toMatch(/pexd_http_requests_total\{[^}]*status="5\d\d"/);
    expect(p.logs.filter((l) => l.level === "error")).toEqual([]);
  });

  test("HEAD /next and HEAD /reset change nothing (405); a lower-case bearer scheme is accepted", async () => {
    const p = await pexd({ PEXD_API_TOKEN: "Tok3n-value" });
    const auth = { authorization: "bearer Tok3n-value" };
    expect(await (await fetch(`${p.url}/next`, { method: "POST", headers: auth })).json()).toEqual({ index: 1, value: "1" });
    for (const path of ["/next", "/reset", "/previous"]) {
      const r = await fetch(`${p.url}${path}`, { method: "HEAD", headers: auth });
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe("GET, POST");
    }
    expect(await (await fetch(`${p.url}/current`)).json()).toEqual({ index: 1, value: "1" });
    expect((await fetch(`${p.url}/next`, { headers: { authorization: "BEARER Tok3n-value" } })).status).toBe(200);
    expect((await fetch(`${p.url}/next`, { headers: { authorization: "Basic Tok3n-value" } })).status).toBe(401);
  });

  test.each([
    ["PEXD_ETH_HTTP_URL", "https//user:pw-secret@host.example/v3/KEY-secret"],
    ["PEXD_ETH_WS_URL", "wss//user:pw-secret@host.example/ws/v3/KEY-secret"],
    ["PEXD_ETH_HTTP_URL", "ftp://user:pw-secret@host.example/KEY-secret"],
    ["INFURA_PROJECT_ID", "KEY-secret!"],
  ])("a malformed %s is named but never echoed (exit 78)", async (variable, value) => {
    const proc = Bun.spawn(pexdCommand(), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", PEXD_PORT: "0", [variable]: value },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(78);
    const out = (await new Response(proc.stderr).text()) + (await new Response(proc.stdout).text());
    expect(out).toContain(variable);
    for (const secret of ["pw-secret", "KEY-secret", "user:"]) expect(out).not.toContain(secret);
  });
});

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
