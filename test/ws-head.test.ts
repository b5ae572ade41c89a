// HeadTracker on its own against a real anvil: every mined head is emitted in order over newHeads
// (WebSocket, through the hub) and over eth_blockNumber polling (HTTP only); the /ready check fails
// before the first head and after a stall (the stall rule is driven by an injected clock, not by waiting).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { HttpTransport } from "../src/eth/http.transport.ts";
import { HeadTracker, STALL_FACTOR, STALL_MIN_MS } from "../src/eth/ws/head.tracker.ts";
import { SubscriptionHub } from "../src/eth/ws/subscription.hub.ts";
import type { WebSocketLike } from "../src/eth/ws/upstream.socket.ts";
import { WsTransport } from "../src/eth/ws/ws.transport.ts";
import { silentLogger } from "../src/log.ts";
import { until } from "./helpers/wait.ts";
import { startAnvil, type Anvil } from "./helpers/anvil.ts";

const socket = (url: string, headers: Record<string, string>) =>
  new WebSocket(url, { headers } as unknown as string[]) as unknown as WebSocketLike;

let anvil: Anvil;
beforeAll(async () => {
  anvil = await startAnvil();
});
afterAll(async () => {
  await anvil?.stop();
});

const ready = async (t: HeadTracker) => {
  const r = await t.check().check();
  return r.ok ? "ok" : r.detail;
};

describe("HeadTracker", () => {
  test("newHeads through the hub: each mined block is emitted once, in order; /ready passes", async () => {
    const ws = new WsTransport({
      upstreams: [{ label: "anvil", url: anvil.wsUrl }],
      timeoutMs: 10_000,
      connect: socket,
      log: silentLogger,
    });
    const hub = new SubscriptionHub(ws.subscriptions);
    const tracker = new HeadTracker({ log: silentLogger, hub });
    expect(await ready(tracker)).toBe("no chain head seen yet");
    try {
      // No poll transport: the head can only come from newHeads, so the first one needs a block.
      await tracker.start();
      // The group exists from the moment eth_subscribe is sent; wait for anvil to confirm it (the
      // tracker then holds a member), or a block mined before anvil subscribed is never pushed.
      await until("subscription confirmed", () => hub.subscribers > 0);
      const before = BigInt(await anvil.rpc<string>("eth_blockNumber"));
      const seen: bigint[] = [];
      tracker.onHead((n) => seen.push(n));
      for (let i = 1; i <= 5; i++) {
        await anvil.rpc("evm_mine");
        await until(`head ${before + BigInt(i)}`, () => tracker.head === before + BigInt(i));
      }
      expect(seen).toEqual([1n, 2n, 3n, 4n, 5n].map((d) => before + d));
      expect(await ready(tracker)).toBe("ok");
    } finally {
      tracker.stop();
      await until("upstream unsubscribed", () => hub.upstreamSubscriptions === 0);
      await ws.close();
    }
  });

  test("polling eth_blockNumber over HTTP when no WebSocket is configured", async () => {
    const http = new HttpTransport({ upstreams: [{ label: "anvil", url: anvil.url }], timeoutMs: 10_000 });
    const tracker = new HeadTracker({ log: silentLogger, poll: http, pollMs: 50 });
    try {
      const seen: bigint[] = [];
      tracker.onHead((n) => seen.push(n));
      await tracker.start();
      const first = await until("first head", () => tracker.head);
      for (let i = 1; i <= 3; i++) {
        await anvil.rpc("evm_mine");
        await until(`head ${first + BigInt(i)}`, () => tracker.head === first + BigInt(i));
      }
      // Polled one at a time here, so no block is skipped; consumers fill gaps when polls are sparse.
      expect(seen).toEqual([0n, 1n, 2n, 3n].map((d) => first + d));
      expect(await ready(tracker)).toBe("ok");
    } finally {
      tracker.stop();
    }
  });

  test("stall rule: max(30 s, 10 × observed interval), on an injected clock", async () => {
    let now = 1_000_000;
    const http = new HttpTransport({ upstreams: [{ label: "anvil", url: anvil.url }], timeoutMs: 10_000 });
    const tracker = new HeadTracker({ log: silentLogger, poll: http, pollMs: 50, now: () => now });
    try {
      await tracker.start();
      await until("first head", () => tracker.head !== undefined);
      expect(tracker.stallAfterMs).toBe(STALL_MIN_MS);
      // Blocks every 12 s → threshold 120 s.
      for (let i = 0; i < 3; i++) {
        const h = tracker.head!;
        now += 12_000;
        await anvil.rpc("evm_mine");
        await until("next head", () => tracker.head === h + 1n);
      }
      expect(tracker.stallAfterMs).toBe(STALL_FACTOR * 12_000);
      tracker.stop(); // no more heads: only the clock moves now
      now += 119_000;
      expect(await ready(tracker)).toBe("ok");
      now += 2_000;
      expect(await ready(tracker)).toMatch(/unchanged for 121 s/);
    } finally {
      tracker.stop();
    }
  });
});
