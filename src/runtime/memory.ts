// An in-memory bundle of runtime adapters, portable to any runtime with fetch and WebSocket (tests
// through app.request(), the Deno smoke test, edge runtimes): memory stores, the standard WebSocket
// client, and no TCP or server-side WebSockets (those answer that the runtime lacks them).
import { defineWebSocketHelper } from "hono/ws";
import { AppError } from "../errors.ts";
import type { TcpTransport } from "../relay/tcp.port.ts";
import { memoryStores } from "../storage/memory/memory.stores.ts";
import type { RuntimeAdapters } from "./runtime.port.ts";

const noTcp = (): Promise<never> => Promise.reject(new Error("TCP is not available in this runtime"));
const tcp: TcpTransport = { listen: noTcp, exchange: noTcp };

const upgradeWebSocket = defineWebSocketHelper(() => {
  throw new AppError(501, "not_implemented", "WebSockets are not available in this runtime");
});

export function memoryRuntime(over: Partial<RuntimeAdapters> = {}): RuntimeAdapters {
  return {
    openStores: async () => memoryStores(),
    upstreamSocket: (url) => new WebSocket(url),
    upgradeWebSocket,
    tcp,
    clock: { now: () => performance.timeOrigin + performance.now(), wall: Date.now },
    assets: async () => null,
    // app.request() has no peer: every request counts as one client ("unknown").
    peerAddress: () => null,
    processProbe: {
      memory: () => ({ rss: 0, heapUsed: 0, heapTotal: 0 }),
      cpuSeconds: () => ({ user: 0, system: 0 }),
      openFds: () => null,
    },
    ...over,
  };
}
