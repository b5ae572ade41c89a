// What a runtime hands the portable core: one bundle of adapters. compose() turns Config plus this
// bundle into the feature modules and the app; the Bun runtime (src/runtime/bun/) and the in-memory
// bundle (memory.ts: tests, Deno, edge) each build one, so a new runtime or storage engine is one
// new bundle, not another copy of the wiring.
import type { UpgradeWebSocket } from "hono/ws";
import type { SharedCache } from "../eth/eth.cache.ts";
import type { FetchLike } from "../eth/http.transport.ts";
import type { SocketFactory } from "../eth/ws/upstream.socket.ts";
import type { AssetSource, ReadinessCheck } from "../http/meta.routes.ts";
import type { PeerAddress, RateLimitStore } from "../limits/request-limiter.ts";
import type { ProcessProbe } from "../metrics/process.metrics.ts";
import type { MetricFamily } from "../metrics/types.ts";
import type { TcpTransport } from "../relay/tcp.port.ts";
import type { Stores } from "../storage/ports.ts";

export interface Clock {
  /** Milliseconds for durations, fractional where the runtime can (performance.now based). */
  now(): number;
  /** Unix epoch milliseconds. */
  wall(): number;
}

export interface RuntimeAdapters {
  /**
   * Opens every store (creating and migrating them). Called once, and only when a chosen module
   * stores something; a data directory or database that cannot be used throws StorageOpenError.
   */
  openStores(): Promise<Stores>;
  /** Opens a client WebSocket to an upstream node (the Authorization header carries any secret). */
  upstreamSocket: SocketFactory;
  /** Upgrades a request to a server-side WebSocket (the client-facing JSON-RPC endpoints). */
  upgradeWebSocket: UpgradeWebSocket;
  /** TCP for the relay: the server's listener and the watcher's connections. */
  tcp: TcpTransport;
  clock: Clock;
  /** Static files by name: the API reference's (swagger-ui-*) and the dashboard's (uPlot.*). */
  assets: AssetSource;
  processProbe: ProcessProbe;
  /** The fetch upstream HTTP calls use (default: the global one). */
  fetch?: FetchLike;
  /** The address of the peer that sent a request (null where the runtime cannot tell). */
  peerAddress: PeerAddress;
  /** Where the rate-limit buckets live (default: memory, per process). */
  rateLimitStore?: RateLimitStore;
  /** The gateway's second-level cache shared with other instances (Redis), when configured. */
  sharedCache?: SharedCache;
  /** Readiness of what the bundle connects to besides the stores (Redis): degraded, never fatal. */
  checks?: ReadinessCheck[];
  /** Metric families of the bundle's own connections (Redis errors). */
  metrics?(): MetricFamily[];
  /** Connects what the bundle opened besides the stores (Redis), before the app serves. */
  start?(): Promise<void>;
  /** Closes what the bundle opened (after the stores). */
  close?(): Promise<void>;
}
