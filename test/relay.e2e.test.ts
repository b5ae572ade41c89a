// Block relay end to end (docs/relay.md): the real Bun entry with a real anvil, real TCP clients (Bun
// sockets, node:net and Python's standard library), and the stats API read over HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RelayBlockInfo, RelayClientStats, RelayTotals } from "../src/storage/relay.port.ts";
import { startAnvil, type Anvil } from "./helpers/anvil.ts";
import { pexdCommand, ROOT, startPexd, tempDir, type Pexd } from "./helpers/pexd.ts";

const enc = new TextEncoder();
const frame = (payload: string | Uint8Array) => {
  const b = typeof payload === "string" ? enc.encode(payload) : payload;
  const out = new Uint8Array(b.length + String(b.length).length + 2);
  out.set(enc.encode(`${b.length}:`));
  out.set(b, String(b.length).length + 1);
  out[out.length - 1] = 0x2c;
  return out;
};
const doc = (n: number, tag: string) =>
  `<!doctype html><html><head><meta name="block-number" content="${n}"><meta name="block-hash" content="0x${n.toString(16)}"></head><body>${tag}</body></html>`;

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

type Stats = RelayTotals;
type Client = RelayClientStats;
type BlockInfo = RelayBlockInfo;

/** A raw client over node:net from a chosen loopback source address; resolves when the server closes. */
function rawClient(port: number, localAddress: string) {
  const sock: Socket = connect({ host: "127.0.0.1", port, localAddress, noDelay: true });
  const opened = new Promise<void>((r, j) => {
    sock.once("connect", () => r());
    sock.once("error", j);
  });
  const closed = new Promise<void>((r) => sock.once("close", () => r()));
  sock.on("error", () => {});
  sock.on("data", () => {});
  return {
    opened,
    closed,
    write: (b: Uint8Array | string) => new Promise<void>((r) => sock.write(b, () => r())),
    end: () => sock.end(),
    get destroyed() {
      return sock.destroyed || sock.readyState === "closed";
    },
  };
}

let anvil: Anvil;
let pexd: Pexd;
let relayPort: number;
const extra: Pexd[] = [];
const get = async <T>(path: string, base = pexd.url): Promise<T> => {
  const r = await fetch(base + path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return (await r.json()) as T;
};

beforeAll(async () => {
  anvil = await startAnvil();
  relayPort = await freePort();
  pexd = await startPexd({
    env: { PEXD_RELAY_PORT: String(relayPort), PEXD_RELAY_TARGETS: `127.0.0.1:${relayPort}`, PEXD_ETH_HTTP_URL: anvil.url },
  });
});

afterAll(async () => {
  for (const p of [pexd, ...extra]) await p?.dispose();
  await anvil?.stop();
});

describe("relay: watcher → server against anvil", () => {
  test("mined blocks (several between polls) all appear in /stats/blocks, newest first, none missing", async () => {
    // The watcher starts from the head at start-up (block 0 on a fresh chain).
    await until("start block stored", async () => (await get<{ items: BlockInfo[] }>("/stats/blocks")).items.some((b) => b.number === 0));
    for (let i = 0; i < 8; i++) await anvil.rpc("evm_mine");
    const head = Number(BigInt(await anvil.rpc<string>("eth_blockNumber")));
    expect(head).toBe(8);
    const items = await until("all mined blocks stored", async () => {
      const { items } = await get<{ items: BlockInfo[] }>("/stats/blocks?limit=1000");
      const own = items.filter((b) => b.number <= head);
      return own.length === head + 1 ? own : undefined;
    });
    expect(items.map((b) => b.number)).toEqual(Array.from({ length: head + 1 }, (_, i) => head - i));
    for (const b of items) {
      const real = await anvil.rpc<{ hash: string }>("eth_getBlockByNumber", [`0x${b.number.toString(16)}`, false]);
      expect(b.hash).toBe(real.hash);
      expect(b.from).toBe("127.0.0.1");
      expect(b.bytes).toBeGreaterThan(300);
    }
    const res = await fetch(`${pexd.url}/stats/blocks/5`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    const html = await res.text();
    expect(html).toContain('<meta name="block-number" content="5">');
    expect(html).toContain(`<meta name="block-hash" content="${items.find((b) => b.number === 5)!.hash}">`);
    // Every frame the watcher sent was logged with its sender (info lines are flushed in batches).
    const line = await until("frame log line", async () => pexd.logs.find((l) => l.msg === "relay frame" && l.block === 5));
    expect(line).toMatchObject({ from: "127.0.0.1", bytes: items.find((b) => b.number === 5)!.bytes });
    expect(line.port).toBeGreaterThan(0);
  });

  test("GET /stats/blocks/{number} of an absent block is 404 with the error body; bad limit is 400", async () => {
    const r = await fetch(`${pexd.url}/stats/blocks/987654321`);
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({
      code: "block_not_found",
      message: "no document stored for block 987654321",
      details: null,
      hint: null,
    });
    for (const q of ["limit=0", "limit=1001", "limit=x"]) expect((await fetch(`${pexd.url}/stats/blocks?${q}`)).status).toBe(400);
    expect((await fetch(`${pexd.url}/stats/blocks/abc`)).status).toBe(400);
    expect((await get<{ items: BlockInfo[] }>("/stats/blocks?limit=1")).items.length).toBe(1);
  });

  test("the stats routes are in the OpenAPI document", async () => {
    const doc = await get<{ paths: Record<string, unknown> }>("/openapi.json");
    for (const p of ["/stats", "/stats/clients", "/stats/blocks", "/stats/blocks/{number}"]) expect(Object.keys(doc.paths)).toContain(p);
  });
});

describe("relay server: raw clients", () => {
  test("a raw node:net client is recorded under /stats/clients; a second copy is a duplicate, stored once", async () => {
    const before = await get<Stats>("/stats");
    const a = rawClient(relayPort, "127.0.0.2");
    await a.opened;
    await a.write(frame(doc(1_000_001, "first copy")));
    await a.write(frame(doc(1_000_001, "second copy")));
    a.end();
    await a.closed;
    const c = await until("client 127.0.0.2 with 2 frames", async () =>
      (await get<{ items: Client[] }>("/stats/clients")).items.find((x) => x.address === "127.0.0.2" && x.frames === 2),
    );
    expect(c).toMatchObject({
      address: "127.0.0.2",
      frames: 2,
      duplicates: 1,
      rejected: 0,
      bytes: 2 * enc.encode(doc(1_000_001, "first copy")).length + 1,
    });
    expect(Date.parse(c.first_seen)).toBeLessThanOrEqual(Date.parse(c.last_seen));
    expect(c.first_seen).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await (await fetch(`${pexd.url}/stats/blocks/1000001`)).text()).toContain("first copy");
    const after = await get<Stats>("/stats");
    expect(after.duplicates - before.duplicates).toBe(1);
    expect(after.blocks - before.blocks).toBe(1);
  });

  test("split and coalesced frames: one frame in three writes, two frames in one write", async () => {
    const a = rawClient(relayPort, "127.0.0.4");
    await a.opened;
    const f = frame(doc(1_000_010, "split"));
    await a.write(f.subarray(0, 3)); // inside the length prefix
    await Bun.sleep(20);
    await a.write(f.subarray(3, 60));
    await Bun.sleep(20);
    await a.write(f.subarray(60));
    await a.write(Buffer.concat([frame(doc(1_000_011, "c1")), frame(doc(1_000_012, "c2"))]));
    a.end();
    await a.closed;
    const c = await until("3 frames from 127.0.0.4", async () =>
      (await get<{ items: Client[] }>("/stats/clients")).items.find((x) => x.address === "127.0.0.4" && x.frames === 3),
    );
    expect(c.duplicates + c.rejected).toBe(0);
    for (const n of [1_000_010, 1_000_011, 1_000_012]) expect((await fetch(`${pexd.url}/stats/blocks/${n}`)).status).toBe(200);
  });

  test("a frame without the block-number tag is counted as rejected and not stored", async () => {
    const before = await get<Stats>("/stats");
    const a = rawClient(relayPort, "127.0.0.5");
    await a.opened;
    await a.write(frame("<html><head><title>no tag</title></head></html>"));
    a.end();
    await a.closed;
    const c = await until("rejected frame counted", async () =>
      (await get<{ items: Client[] }>("/stats/clients")).items.find((x) => x.address === "127.0.0.5"),
    );
    expect(c).toMatchObject({ frames: 1, rejected: 1, duplicates: 0 });
    const after = await get<Stats>("/stats");
    expect(after.rejected - before.rejected).toBe(1);
    expect(after.blocks).toBe(before.blocks);
  });

  test("malformed and oversized frames close only that connection; a client connected alongside keeps being served", async () => {
    const good = rawClient(relayPort, "127.0.0.6");
    await good.opened;
    await good.write(frame(doc(1_000_020, "before")));
    const bad = rawClient(relayPort, "127.0.0.7");
    await bad.opened;
    await bad.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await bad.closed;
    const huge = rawClient(relayPort, "127.0.0.8");
    await huge.opened;
    await huge.write("1048577:");
    await huge.closed;
    expect(good.destroyed).toBe(false);
    await good.write(frame(doc(1_000_021, "after")));
    good.end();
    await good.closed;
    await until("good client's 2 frames", async () =>
      (await get<{ items: Client[] }>("/stats/clients")).items.find((x) => x.address === "127.0.0.6" && x.frames === 2),
    );
    expect((await fetch(`${pexd.url}/stats/blocks/1000021`)).status).toBe(200);
    const closes = await until("both close lines", async () => {
      const ls = pexd.logs.filter((l) => l.msg === "relay connection closed: bad frame");
      return ls.length >= 2 ? ls : undefined;
    });
    expect(closes.find((l) => l.from === "127.0.0.7")).toMatchObject({ reason: "malformed" });
    expect(closes.find((l) => l.from === "127.0.0.8")).toMatchObject({ reason: "too_large" });
    // Nothing was recorded for the misbehaving clients.
    const addrs = (await get<{ items: Client[] }>("/stats/clients")).items.map((x) => x.address);
    expect(addrs).not.toContain("127.0.0.7");
    expect(addrs).not.toContain("127.0.0.8");
  });

  test("a client written with Python 3's standard library is recorded", async () => {
    const py = Bun.spawn(
      ["python3", join(ROOT, "test/fixtures/relay_client.py"), "127.0.0.1", String(relayPort), "2000000", "3", "127.0.0.3"],
      { stdout: "pipe", stderr: "pipe" },
    );
    const code = await py.exited;
    expect(code).toBe(0);
    const out = await new Response(py.stdout).text();
    expect(out).toContain("sent 3");
    // It half-closes after writing and still reads each answer.
    for (const n of [2000000, 2000001, 2000002]) expect(out).toContain(`block ${n}: 6:stored,`);
    const c = await until("python client", async () =>
      (await get<{ items: Client[] }>("/stats/clients")).items.find((x) => x.address === "127.0.0.3" && x.frames === 3),
    );
    expect(c).toMatchObject({ duplicates: 0, rejected: 0 });
    expect(await (await fetch(`${pexd.url}/stats/blocks/2000001`)).text()).toContain("python client");
  });

  test("20 senders that half-close right after writing each read their answer", async () => {
    const send = (n: number) =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ host: "127.0.0.1", port: relayPort, localAddress: "127.0.0.12", allowHalfOpen: true });
        let got = "";
        s.on("data", (d) => (got += d.toString()));
        s.on("close", () => resolve(got));
        s.on("error", reject);
        s.on("connect", () => s.end(frame(doc(3_000_000 + n, "half-close"))));
      });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => send(n)));
    expect(answers).toEqual(Array.from({ length: 20 }, () => "6:stored,"));
  });

  test("a connection refused at the per-address limit reads busy, even while it keeps writing", async () => {
    const from = "127.0.0.13";
    // 32 connections mid-frame (not idle between frames: they cannot be evicted) fill the limit.
    const held: Socket[] = [];
    for (let i = 0; i < 32; i++) {
      const s = connect({ host: "127.0.0.1", port: relayPort, localAddress: from });
      s.on("error", () => {});
      await new Promise((r) => s.once("connect", r));
      s.write("100000:<html>");
      held.push(s);
    }
    try {
      const answer = await new Promise<string>((resolve) => {
        const s = connect({ host: "127.0.0.1", port: relayPort, localAddress: from });
        let got = "";
        let err = "";
        s.on("data", (d) => (got += d.toString()));
        s.on("error", (e) => (err = e.message));
        s.on("close", () => resolve(got || `nothing (${err})`));
        // Keeps writing a big frame while the server refuses it.
        s.on("connect", () => {
          const chunk = Buffer.alloc(16 * 1024, 120);
          s.write("900000:");
          let n = 0;
          const more = () => {
            while (n++ < 40 && s.write(chunk));
            if (n < 40) s.once("drain", more);
          };
          more();
        });
      });
      expect(answer).toBe("4:busy,");
    } finally {
      for (const s of held) s.destroy();
    }
  });

  test("every frame is stored or counted: frames = blocks stored + duplicates + rejected", async () => {
    const s = await get<Stats>("/stats");
    expect(s.frames).toBe(s.blocks + s.duplicates + s.rejected);
    const clients = (await get<{ items: Client[] }>("/stats/clients")).items;
    expect(s.clients).toBe(clients.length);
    expect(s.bytes).toBe(clients.reduce((a, c) => a + c.bytes, 0));
  });
});

describe("relay roles from the command line", () => {
  test("relay-client delivers its backlog once a relay-server comes up on the target port", async () => {
    const port = await freePort();
    // This one follows the head over WebSocket (newHeads), with polling as fallback.
    const client = await startPexd({
      args: ["relay-client"],
      env: { PEXD_RELAY_TARGETS: `127.0.0.1:${port}`, PEXD_ETH_HTTP_URL: anvil.url, PEXD_ETH_WS_URL: anvil.wsUrl },
    });
    extra.push(client);
    const started = await until("watcher started", async () => client.logs.find((l) => l.msg === "relay watcher started"));
    const start = Number(started.start_block);
    await until("newHeads subscribed", async () => client.logs.some((l) => l.msg === "head tracker: newHeads subscribed"));
    for (let i = 0; i < 4; i++) await anvil.rpc("evm_mine");
    const head = start + 4;
    await until("a failed send logged", async () => client.logs.some((l) => l.msg === "relay send failed; retrying with backoff"));
    // The client role serves no stats routes, but /metrics with its queue.
    expect((await fetch(`${client.url}/stats`)).status).toBe(404);
    expect(await (await fetch(`${client.url}/metrics`)).text()).toMatch(/^pexd_relay_queue_depth\{target="127\.0\.0\.1:\d+"\} [1-9]/m);
    const server = await startPexd({ args: ["relay-server"], env: { PEXD_RELAY_PORT: String(port) } });
    extra.push(server);
    expect((await fetch(`${server.url}/current`)).status).toBe(404);
    const items = await until(
      "backlog delivered",
      async () => {
        const { items } = await get<{ items: BlockInfo[] }>("/stats/blocks", server.url);
        return items.length >= head - start + 1 && items[0]!.number >= head ? items : undefined;
      },
      45_000,
    );
    const numbers = items.map((b) => b.number).filter((n) => n <= head);
    expect(numbers.slice(0, head - start + 1)).toEqual(Array.from({ length: head - start + 1 }, (_, i) => head - i));
    await until("back-up log line", async () => client.logs.some((l) => l.msg === "relay target back up"));
    expect(await client.stop()).toBe(0);
    expect(await server.stop()).toBe(0);
  });

  test("relay-server on an unusable data directory exits 73 with one line, like the full process", async () => {
    const dir = tempDir();
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "x");
    const proc = Bun.spawn(pexdCommand(["relay-server"]), {
      cwd: ROOT,
      env: { ...process.env, PEXD_PORT: "0", PEXD_DATA_DIR: file },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await proc.exited).toBe(73);
    const err = (await new Response(proc.stderr).text()).trim();
    expect(err.split("\n")).toHaveLength(1);
    expect(err).toMatch(/PEXD_DATA_DIR=.*not-a-dir/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("--help lists the commands and every variable with its default", async () => {
    const p = Bun.spawn(pexdCommand(["--help"]), { stdout: "pipe" });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    expect(out).toContain("relay-server");
    expect(out).toContain("relay-client");
    expect(out).toMatch(/PEXD_RELAY_PORT\s+0/);
    expect(out).toMatch(/PEXD_PORT\s+8081/);
    expect(out).toContain("PEXD_RELAY_TARGETS");
  });
});
