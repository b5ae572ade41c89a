// Upstream failure end to end (real Bun entry, real anvil): failover past a dead upstream, 503
// upstream_unavailable at once when it is known down, 504 when it hangs (then 503 at once), 503 with
// none configured, and no credential in any output.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { deadPort, stopped } from "./helpers/net.ts";
import { until } from "./helpers/wait.ts";
import { startAnvil, type Anvil } from "./helpers/anvil.ts";
import { startPexd, type Pexd } from "./helpers/pexd.ts";

const JSON_CT = { "content-type": "application/json" };
let anvil: Anvil;
const started: Pexd[] = [];

async function pexdWith(env: Record<string, string>): Promise<Pexd> {
  const p = await startPexd({ env });
  started.push(p);
  return p;
}

const errorCode = async (res: Response) => ((await res.json()) as { code: string; message: string; details: string | null }).code;

beforeAll(async () => {
  anvil = await startAnvil();
}, 60_000);

afterAll(async () => {
  for (const p of started) await p.dispose();
  process.kill(anvil.pid, "SIGCONT");
  await anvil?.stop();
});

describe("upstream failure", () => {
  test("failover: the first upstream a dead port, the second anvil; /ready is 200 degraded naming the dead one", async () => {
    const dead = await deadPort();
    const p = await pexdWith({ PEXD_ETH_HTTP_URL: `http://127.0.0.1:${dead},${anvil.url}` });
    for (const path of ["/eth_chainId", "/blocknumber", "/gasprice"]) {
      const res = await fetch(p.url + path);
      expect(res.status).toBe(200);
    }
    const chain = (await (await fetch(`${p.url}/eth_chainId`)).json()) as { result: string };
    expect(chain.result).toBe("0x7a69");
    const ready = await fetch(`${p.url}/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe("degraded");
    expect(body.checks[`eth_upstream http://127.0.0.1:${dead}`]).toMatch(/^down: /);
    expect(body.checks[`eth_upstream ${anvil.url}`]).toBe("ok");
  });

  test("with no upstream configured every gateway route answers 503 upstream_not_configured", async () => {
    const p = await pexdWith({});
    const gets = ["/blocknumber", "/gasprice", "/eth_blockNumber", "/eth_gasPrice", "/eth_coinbase", "/eth_chainId"];
    for (const path of gets) {
      const res = await fetch(p.url + path);
      expect(res.status).toBe(503);
      expect(await errorCode(res)).toBe("upstream_not_configured");
    }
    const posts: [string, unknown][] = [
      ["/blockbynumber", { block: "latest" }],
      ["/txbyblockandindex", { block: 1, index: 0 }],
      ["/eth", { jsonrpc: "2.0", id: 1, method: "eth_chainId" }],
    ];
    for (const [path, body] of posts) {
      const res = await fetch(p.url + path, { method: "POST", headers: JSON_CT, body: JSON.stringify(body) });
      expect(res.status).toBe(503);
      expect(await errorCode(res)).toBe("upstream_not_configured");
    }
    expect((await fetch(`${p.url}/ready`)).status).toBe(200);
  });

  test("upstream down: known down at once, 503 upstream_unavailable on REST, -32603 on /eth; credentials never shown", async () => {
    const dead = await deadPort();
    const p = await pexdWith({ PEXD_ETH_HTTP_URL: `http://alice:s3cretpass@127.0.0.1:${dead}/v3/projectkey123` });
    // The head tracker's first poll finds the connection refused: the upstream is known to be down.
    await until("the upstream known down", async () => (await fetch(`${p.url}/ready`)).status === 503);
    const res = await fetch(`${p.url}/gasprice`);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text).code).toBe("upstream_unavailable");
    const rpc = await fetch(`${p.url}/eth`, {
      method: "POST",
      headers: JSON_CT,
      body: JSON.stringify({ jsonrpc: "2.0", id: 42, method: "eth_blockNumber" }),
    });
    expect(rpc.status).toBe(503);
    const rtext = await rpc.text();
    const rbody = JSON.parse(rtext) as { id: number; error: { code: number; data: { code: string } } };
    expect(rbody.id).toBe(42);
    expect(rbody.error.code).toBe(-32603);
    expect(rbody.error.data.code).toBe("upstream_unavailable");
    // Batch: every entry answered, each with its id.
    const batch = await fetch(`${p.url}/eth`, {
      method: "POST",
      headers: JSON_CT,
      body: JSON.stringify([
        { jsonrpc: "2.0", id: 1, method: "eth_chainId" },
        { jsonrpc: "2.0", id: 2, method: "admin_x" },
      ]),
    });
    expect(batch.status).toBe(200);
    const bbody = (await batch.json()) as { id: number; error: { code: number } }[];
    expect(bbody.map((b) => [b.id, b.error.code])).toEqual([
      [1, -32603],
      [2, -32601],
    ]);
    await p.stop();
    for (const out of [text, rtext, p.output()]) {
      expect(out).not.toContain("s3cretpass");
      expect(out).not.toContain("projectkey123");
      expect(out).not.toContain(btoa("alice:s3cretpass"));
    }
  });

  test("upstream hangs: 504 upstream_timeout, then 503 upstream_unavailable at once; it recovers when the upstream answers again", async () => {
    const p = await pexdWith({ PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_TIMEOUT_MS: "300" });
    process.kill(anvil.pid, "SIGSTOP");
    try {
      await stopped(anvil.pid);
      // The first call to time out is this one or the head tracker's poll: 504, or already 503.
      const res = await fetch(`${p.url}/gasprice`);
      const first = { status: res.status, code: ((await res.json()) as { code: string }).code };
      expect([
        { status: 504, code: "upstream_timeout" },
        { status: 503, code: "upstream_unavailable" },
      ]).toContainEqual(first);
      // A timeout opened the circuit: calls fail at once now instead of waiting for the timeout.
      const rpc = await fetch(`${p.url}/eth`, {
        method: "POST",
        headers: JSON_CT,
        body: JSON.stringify({ jsonrpc: "2.0", id: "t", method: "eth_chainId" }),
      });
      expect(rpc.status).toBe(503);
      expect(((await rpc.json()) as { error: { data: { code: string } } }).error.data.code).toBe("upstream_unavailable");
    } finally {
      process.kill(anvil.pid, "SIGCONT");
    }
    // A background probe closes the circuit after its cool-down.
    await until("the upstream back", async () => (await fetch(`${p.url}/eth_chainId`)).status === 200, 30_000);
  });
});
