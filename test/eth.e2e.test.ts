// The gateway end to end: the real Bun entry in front of a real anvil (through a counting proxy):
// REST routes equal anvil's answers, MISS→HIT, coalescing, JSON-RPC rules, viem, a signed transaction.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPublicClient, createWalletClient, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";
import { ANVIL_KEY_0, startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startCountingProxy, type CountingProxy } from "./helpers/counting-proxy.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";

let anvil: Anvil;
let proxy: CountingProxy;
let pexd: Pexd;
const JSON_CT = { "content-type": "application/json" };

beforeAll(async () => {
  anvil = await startAnvil();
  // Blocks to stand on: 0..4 exist, with depth 2 blocks 0..2 are final.
  for (let i = 0; i < 4; i++) await anvil.rpc("evm_mine");
  proxy = await startCountingProxy(anvil);
  pexd = await startPexd({ env: { PEXD_ETH_HTTP_URL: proxy.url, PEXD_ETH_FINALITY_DEPTH: "2", PEXD_ETH_CACHE_TTL_MS: "2000" } });
}, 60_000);

afterAll(async () => {
  await pexd?.dispose();
  await proxy?.stop();
  await anvil?.stop();
});

const get = (path: string) => fetch(pexd.url + path);
const post = (path: string, body: unknown, headers: Record<string, string> = JSON_CT) =>
  fetch(pexd.url + path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
const rpc = (body: unknown) => post("/eth", body);

async function rest(res: Response) {
  const body = (await res.json()) as { jsonrpc: string; id: unknown; result?: unknown; error?: unknown };
  return { status: res.status, cache: res.headers.get("x-cache"), body };
}

describe("REST routes", () => {
  test("every route answers anvil's own result as a JSON-RPC object with id 1", async () => {
    const cases: [Promise<Response>, string, unknown[]][] = [
      [get("/blocknumber"), "eth_blockNumber", []],
      [get("/gasprice"), "eth_gasPrice", []],
      [get("/eth_blockNumber"), "eth_blockNumber", []],
      [get("/eth_gasPrice"), "eth_gasPrice", []],
      [get("/eth_coinbase"), "eth_coinbase", []],
      [get("/eth_chainId"), "eth_chainId", []],
      [post("/blockbynumber", { block: 1 }), "eth_getBlockByNumber", ["0x1", false]],
      [post("/blockbynumber", { block: "0x2", txdetails: true }), "eth_getBlockByNumber", ["0x2", true]],
      [post("/blockbynumber", { block: "latest" }), "eth_getBlockByNumber", ["latest", false]],
      [post("/blockbynumber", { block: "earliest" }), "eth_getBlockByNumber", ["earliest", false]],
      [post("/txbyblockandindex", { block: "3", index: "0x0" }), "eth_getTransactionByBlockNumberAndIndex", ["0x3", "0x0"]],
    ];
    for (const [res, method, params] of cases) {
      const r = await rest(await res);
      expect(r.status).toBe(200);
      expect(["HIT", "MISS", "COALESCED"]).toContain(r.cache!);
      expect(r.body).toEqual({ jsonrpc: "2.0", id: 1, result: await anvil.rpc(method, params) });
    }
  });

  test("MISS then HIT, one upstream call; the same block as decimal, integer or hex is one entry", async () => {
    const before = proxy.count("eth_getBlockByNumber");
    const a = await rest(await post("/blockbynumber", { block: 2 }));
    const b = await rest(await post("/blockbynumber", { block: "2" }));
    const c = await rest(await post("/blockbynumber", { block: "0x02" }));
    expect(a.cache).toBe("MISS");
    expect(b.cache).toBe("HIT");
    expect(c.cache).toBe("HIT");
    expect(b.body).toEqual(a.body);
    expect(proxy.count("eth_getBlockByNumber") - before).toBe(1);
  });

  test("N concurrent identical reads make one upstream call", async () => {
    proxy.pause();
    const N = 20;
    const pending = Array.from({ length: N }, (_, i) =>
      rpc({ jsonrpc: "2.0", id: i, method: "eth_getCode", params: ["0x000000000000000000000000000000000000dEaD", "latest"] }),
    );
    await proxy.waitPending(1);
    proxy.resume();
    const res = await Promise.all(pending);
    const caches = res.map((r) => r.headers.get("x-cache"));
    const bodies = await Promise.all(res.map((r) => r.json() as Promise<{ id: number; result: string }>));
    expect(proxy.count("eth_getCode")).toBe(1);
    expect(caches.filter((c) => c === "MISS")).toHaveLength(1);
    expect(caches.every((c) => c === "MISS" || c === "COALESCED" || c === "HIT")).toBe(true);
    for (const [i, b] of bodies.entries()) expect(b).toEqual({ jsonrpc: "2.0", id: i, result: "0x" } as never);
  });

  test("validation: 400 for a bad block or index, 415 without JSON content type", async () => {
    for (const body of [{ block: -1 }, { block: "soon" }, {}, { block: 1.5 }, { block: "0x" }]) {
      const res = await post("/blockbynumber", body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("invalid_request");
    }
    const bad = await post("/txbyblockandindex", { block: 1, index: "x" });
    expect(bad.status).toBe(400);
    const ct = await post("/blockbynumber", { block: 1 }, { "content-type": "text/plain" });
    expect(ct.status).toBe(415);
    expect(((await ct.json()) as { code: string }).code).toBe("unsupported_media_type");
  });

  test("after anvil mines, /blocknumber moves within the TTL", async () => {
    const first = await rest(await get("/blocknumber"));
    await anvil.rpc("evm_mine");
    const target = await anvil.rpc<string>("eth_blockNumber");
    let seen = first.body.result;
    const deadline = Date.now() + 30_000;
    while (seen !== target && Date.now() < deadline) {
      await Bun.sleep(100);
      seen = (await rest(await get("/blocknumber"))).body.result;
    }
    expect(BigInt(target)).toBe(BigInt(first.body.result as string) + 1n);
    expect(seen).toBe(target);
  });
});

describe("POST /eth", () => {
  test("batch: order and ids preserved, notifications unanswered, refused namespaces -32601, invalid -32600", async () => {
    const res = await rpc([
      { jsonrpc: "2.0", id: "x", method: "eth_chainId" },
      { jsonrpc: "2.0", id: 2, method: "admin_nodeInfo" },
      { jsonrpc: "2.0", method: "eth_chainId" },
      { jsonrpc: "1.0", id: 3, method: "eth_chainId" },
      7,
      { jsonrpc: "2.0", id: null, method: "net_version", params: [] },
      { jsonrpc: "2.0", id: 4, method: "debug_traceTransaction", params: ["0x0"] },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: unknown; result?: unknown; error?: { code: number } }[];
    expect(body.map((b) => b.id)).toEqual(["x", 2, 3, null, null, 4]);
    expect(body[0]!.result).toBe("0x7a69");
    expect(body[1]!.error!.code).toBe(-32601);
    expect(body[2]!.error!.code).toBe(-32600);
    expect(body[3]!.error!.code).toBe(-32600);
    expect(body[4]!.result).toBe(await anvil.rpc("net_version"));
    expect(body[5]!.error!.code).toBe(-32601);
  });

  test("-32700 for malformed JSON, -32600 for an empty or oversized batch, 204 for notifications only", async () => {
    const parse = await rpc("{nope");
    expect(parse.status).toBe(200);
    expect(await parse.json()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: expect.any(String) } } as never);
    const empty = (await (await rpc([])).json()) as { error: { code: number } };
    expect(empty.error.code).toBe(-32600);
    // PEXD_ETH_MAX_BATCH defaults to 1000 calls.
    const big = (await (await rpc(Array.from({ length: 1001 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "eth_chainId" })))).json()) as {
      error: { code: number; message: string };
    };
    expect(big.error.code).toBe(-32600);
    expect(big.error.message).toContain("1000");
    const thousand = (await (
      await rpc(Array.from({ length: 1000 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "eth_chainId" })))
    ).json()) as unknown[];
    expect(thousand).toHaveLength(1000);
    const note = await rpc({ jsonrpc: "2.0", method: "eth_blockNumber" });
    expect(note.status).toBe(204);
    expect(await note.text()).toBe("");
  });

  test("a cached single call answers each caller with its own id, HIT, and no upstream call; a notification of it gets nothing", async () => {
    const call = (id: unknown) => ({ jsonrpc: "2.0", id, method: "eth_getBlockByNumber", params: ["0x1", false] });
    const first = await rpc(call(1));
    expect(await first.json()).toMatchObject({ id: 1, result: { number: "0x1" } });
    const before = proxy.count("eth_getBlockByNumber");
    for (const id of ['a"b', 0, null, 2 ** 40, "0x1"]) {
      const r = await rpc(call(id));
      expect(r.status).toBe(200);
      expect(r.headers.get("x-cache")).toBe("HIT");
      expect(r.headers.get("access-control-allow-origin")).toBe("*");
      expect(r.headers.get("x-request-id")).toBeTruthy();
      expect(await r.json()).toMatchObject({ jsonrpc: "2.0", id, result: { number: "0x1" } });
    }
    const note = await rpc({ jsonrpc: "2.0", method: "eth_getBlockByNumber", params: ["0x1", false] });
    expect(note.status).toBe(204);
    // An invalid message is not answered from the cache, even when its method and params are cached.
    const bad = (await (await rpc({ jsonrpc: "1.0", id: 9, method: "eth_getBlockByNumber", params: ["0x1", false] })).json()) as {
      error: { code: number };
    };
    expect(bad.error.code).toBe(-32600);
    expect(proxy.count("eth_getBlockByNumber")).toBe(before);
  });

  test("an upstream JSON-RPC error is passed through unchanged", async () => {
    const call = { jsonrpc: "2.0", id: 5, method: "eth_getBlockByNumber", params: ["0xnothex", false] };
    const direct = await fetch(anvil.url, { method: "POST", headers: JSON_CT, body: JSON.stringify(call) }).then((r) => r.json());
    const via = await (await rpc(call)).json();
    expect(via).toEqual(direct);
    expect((via as { error: { code: number } }).error.code).toBe(-32602);
  });

  test("the OpenAPI document lists every gateway route", async () => {
    const doc = (await (await get("/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    for (const p of ["/blocknumber", "/gasprice", "/eth_blockNumber", "/eth_gasPrice", "/eth_coinbase", "/eth_chainId"])
      expect(doc.paths[p]?.get).toBeDefined();
    for (const p of ["/blockbynumber", "/txbyblockandindex", "/eth"]) expect(doc.paths[p]?.post).toBeDefined();
  });

  test("CORS: a browser preflight is allowed and x-cache is exposed", async () => {
    const res = await fetch(`${pexd.url}/eth`, {
      method: "OPTIONS",
      headers: { Origin: "http://dapp.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const r = await rpc({ jsonrpc: "2.0", id: 1, method: "eth_chainId" });
    expect(r.headers.get("access-control-expose-headers")).toContain("x-cache");
  });
});

describe("viem through /eth", () => {
  test("public client reads and a batch", async () => {
    const bodies: string[] = [];
    const client = createPublicClient({
      chain: foundry,
      transport: http(`${pexd.url}/eth`, {
        batch: { batchSize: 10, wait: 20 },
        onFetchRequest: async (req) => void bodies.push(await req.clone().text()),
      }),
    });
    const [n, id, gas] = await Promise.all([client.getBlockNumber({ cacheTime: 0 }), client.getChainId(), client.getGasPrice()]);
    expect(n).toBe(BigInt(await anvil.rpc<string>("eth_blockNumber")));
    expect(id).toBe(31337);
    expect(gas).toBe(BigInt(await anvil.rpc<string>("eth_gasPrice")));
    expect(bodies.some((b) => b.startsWith("["))).toBe(true);
    const block = await client.getBlock({ blockNumber: 1n });
    expect(block.hash).toBe((await anvil.rpc<{ hash: `0x${string}` }>("eth_getBlockByNumber", ["0x1", false])).hash);
  });

  test("a transaction signed with anvil's first key goes through /eth and is found by /txbyblockandindex", async () => {
    const account = privateKeyToAccount(ANVIL_KEY_0);
    const transport = http(`${pexd.url}/eth`);
    const wallet = createWalletClient({ account, chain: foundry, transport });
    const client = createPublicClient({ chain: foundry, transport });
    const sendsBefore = proxy.count("eth_sendRawTransaction");
    const hash = await wallet.sendTransaction({ to: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", value: parseEther("0.01") });
    expect(proxy.count("eth_sendRawTransaction") - sendsBefore).toBe(1);
    const receipt = await client.waitForTransactionReceipt({ hash, pollingInterval: 100, timeout: 30_000 });
    expect(receipt.status).toBe("success");
    const tx = await client.getTransaction({ hash });
    expect(tx.from.toLowerCase()).toBe(account.address.toLowerCase());
    const r = await rest(await post("/txbyblockandindex", { block: Number(receipt.blockNumber), index: receipt.transactionIndex }));
    expect(r.status).toBe(200);
    expect((r.body.result as { hash: string }).hash).toBe(hash);
    const direct = await anvil.rpc<{ blockHash: string }>("eth_getTransactionReceipt", [hash]);
    expect(receipt.blockHash).toBe(direct.blockHash as `0x${string}`);
  }, 60_000);
});
