// The sender's bounded queue and backoff, against real sockets (the Bun TCP adapter) and the
// in-process relay server with the memory store.
import { afterAll, describe, expect, test } from "bun:test";
import { createLogger } from "../log.ts";
import { connect as netConnect } from "node:net";
import { bunTcp, MAX_LINGERING } from "../runtime/bun/tcp.ts";
import { MemoryRelayStore } from "../storage/memory/relay.memory.ts";
import { encodeNetstring } from "./netstring.ts";
import { relayServerModule } from "./relay.module.ts";
import { PENDING_HIGH_BYTES, RelayServer } from "./relay.server.ts";
import type { FrameOutcome, RelayFrame } from "../storage/relay.port.ts";
import type { TcpListener } from "./tcp.port.ts";
import { RelaySender } from "./relay.sender.ts";

const lines: Record<string, unknown>[] = [];
const log = createLogger("debug", (chunk) => {
  for (const l of chunk.split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
});
const listeners: TcpListener[] = [];
afterAll(() => {
  for (const l of listeners) l.stop();
});

const doc = (n: number) => encodeNetstring(`<html><head><meta name="block-number" content="${n}"></head></html>`);

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("RelaySender", () => {
  test("a down target: retries with backoff, drops the oldest beyond the bound (logged, counted), then delivers the rest in order", async () => {
    const probe = await bunTcp.listen({ host: "127.0.0.1", port: 0, idleTimeoutS: 5, handler: { open() {}, data() {}, close() {} } });
    const port = probe.port;
    probe.stop();
    const sender = new RelaySender({ host: "127.0.0.1", port }, bunTcp, log, { maxQueue: 3, backoffMinMs: 20, backoffMaxMs: 80 });
    for (let n = 1; n <= 5; n++) sender.enqueue(BigInt(n), doc(n));
    expect(sender.counters.dropped).toBe(2);
    expect(sender.depth).toBe(3);
    await until("a failed attempt", () => sender.counters.retries >= 2);
    log.flush();
    expect(lines.filter((l) => l.msg === "relay queue full: oldest block dropped").map((l) => l.block)).toEqual(["1", "2"]);
    expect(lines.some((l) => l.msg === "relay send failed; retrying with backoff" && l.target === `127.0.0.1:${port}`)).toBe(true);

    const store = new MemoryRelayStore();
    const server = new RelayServer({ store, log });
    listeners.push(await bunTcp.listen({ host: "127.0.0.1", port, idleTimeoutS: 5, handler: server }));
    await until("queue drained", () => sender.depth === 0);
    await until("3 frames recorded", async () => (await store.totals()).frames === 3);
    expect((await store.blocks(10)).map((b) => b.number)).toEqual([5, 4, 3]);
    // Received in queue order: one new connection each, sent one after the other.
    log.flush();
    expect(lines.filter((l) => l.msg === "relay frame").map((l) => l.block)).toEqual([3, 4, 5]);
    expect(sender.counters.ok).toBe(3);
    await sender.stop();
  });

  test("stop() with documents still queued logs them as undelivered", async () => {
    const sender = new RelaySender({ host: "127.0.0.1", port: 1 }, bunTcp, log, { backoffMinMs: 10_000 });
    sender.enqueue(7n, doc(7));
    await until("first failure", () => sender.counters.retries >= 1);
    await sender.stop();
    log.flush();
    expect(lines.find((l) => l.msg === "relay stopped with undelivered blocks" && l.target === "127.0.0.1:1")).toMatchObject({
      undelivered: 1,
      first: "7",
    });
  });
});

describe("RelayServer connection cap", () => {
  test("connections beyond the cap are closed at once; the others keep being served", async () => {
    const store = new MemoryRelayStore();
    const server = new RelayServer({ store, log, maxConnections: 2 });
    const l = await bunTcp.listen({ host: "127.0.0.1", port: 0, idleTimeoutS: 5, handler: server });
    listeners.push(l);
    const closed: boolean[] = [false, false, false];
    const socks = await Promise.all(
      [0, 1, 2].map((i) =>
        Bun.connect({
          hostname: "127.0.0.1",
          port: l.port,
          socket: {
            data() {},
            close() {
              closed[i] = true;
            },
          },
        }),
      ),
    );
    await until("one connection refused", () => server.counters.refused === 1);
    await until("refused socket closed", () => closed.filter(Boolean).length === 1);
    for (const [i, s] of socks.entries()) if (!closed[i]) s.write(doc(100 + i));
    await until("2 frames", async () => (await store.totals()).frames === 2);
    // The module's metrics read the same counters.
    const m = relayServerModule({ store, server: { handler: server, listener: l }, blocksAtStart: 10 });
    const value = (name: string) => m.metrics!().find((f) => f.name === name)?.samples[0]?.value;
    await until("2 blocks stored", () => value("pexd_relay_blocks") === 12);
    expect(value("pexd_relay_frames_total")).toBe(2);
    expect(value("pexd_relay_clients")).toBe(2);
    expect(m.metrics!().find((f) => f.name === "pexd_relay_sent_total")).toBeUndefined();
    for (const s of socks) s.end();
    await until("connections closed", () => server.connected === 0);
  });
});

/** The memory store behind a gate: nothing is recorded until the test opens it (a stalled disk). */
class GatedStore extends MemoryRelayStore {
  #open!: () => void;
  readonly gate = new Promise<void>((r) => (this.#open = r));
  open(): void {
    this.#open();
  }
  override async record(f: RelayFrame): Promise<FrameOutcome> {
    await this.gate;
    return super.record(f);
  }
}

describe("RelayServer backpressure", () => {
  test("while the store is stalled the server stops reading past the high mark; everything is recorded once it catches up", async () => {
    const store = new GatedStore();
    const server = new RelayServer({ store, log });
    const l = await bunTcp.listen({ host: "127.0.0.1", port: 0, idleTimeoutS: 30, handler: server });
    listeners.push(l);
    const payload = new Uint8Array(64 * 1024).fill(0x61);
    payload.set(new TextEncoder().encode('<html><head><meta name="block-number" content="1">'));
    const f = encodeNetstring(payload);
    const count = Math.ceil((PENDING_HIGH_BYTES * 3) / payload.length); // 96 MiB in all
    let idx = 0;
    let off = 0;
    const pump = (s: { write(b: Uint8Array): number }) => {
      while (idx < count) {
        const n = s.write(off ? f.subarray(off) : f);
        if (n <= 0) return;
        off += n;
        if (off < f.length) return;
        idx++;
        off = 0;
      }
    };
    const sock = await Bun.connect({ hostname: "127.0.0.1", port: l.port, socket: { open: pump, drain: pump, data() {} } });
    await until("high mark reached", () => server.pendingBytes > PENDING_HIGH_BYTES);
    await Bun.sleep(300); // let any in-flight reads land: the bound must hold, not just be crossed
    const held = server.pendingBytes;
    expect(held).toBeLessThan(PENDING_HIGH_BYTES + 8 * 1024 * 1024);
    expect(server.counters.frames).toBeLessThan(count);
    store.open();
    await until("all frames recorded", async () => (await store.totals()).frames === count, 60_000);
    expect(await store.totals()).toMatchObject({ frames: count, blocks: 1, duplicates: count - 1 });
    expect(server.pendingBytes).toBe(0);
    sock.end();
  });
});

describe("Bun TCP adapter: refused connections linger, boundedly", () => {
  test(`past ${MAX_LINGERING} lingering refusals, a refused connection is closed at once (a flood holds no more descriptors)`, async () => {
    const listener = await bunTcp.listen({
      host: "127.0.0.1",
      port: 0,
      idleTimeoutS: 60,
      // Every connection is refused with a last answer and a long linger.
      handler: {
        open(c) {
          c.write(new TextEncoder().encode("4:busy,"));
          c.close(60_000);
        },
        data() {},
        close() {},
      },
    });
    listeners.push(listener);
    const extra = 20;
    const ended: number[] = [];
    const answered: number[] = [];
    const sockets = await Promise.all(
      Array.from(
        { length: MAX_LINGERING + extra },
        (_, i) =>
          new Promise<import("node:net").Socket>((resolve) => {
            const s = netConnect({ host: "127.0.0.1", port: listener.port, allowHalfOpen: true }, () => resolve(s));
            s.on("data", () => answered.push(i));
            s.on("end", () => ended.push(i));
            s.on("error", () => {});
          }),
      ),
    );
    try {
      // Every client reads its answer; only those past the bound see the server close at once.
      await until("every answer", () => answered.length === MAX_LINGERING + extra);
      await until("the connections past the bound closed", () => ended.length >= extra);
      await Bun.sleep(200);
      expect(ended.length).toBe(extra);
    } finally {
      for (const s of sockets) s.destroy();
    }
  }, 30_000);
});
