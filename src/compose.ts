// The portable composition: Config plus one bundle of runtime adapters → the feature modules and the
// app. Every role, the tests and the Deno smoke test assemble pexd here; a runtime only builds the
// bundle and serves `app.fetch`. Shared parts are built once and handed to whoever needs them (the
// Ethereum core, with its head tracker, feeds both the gateway routes and the relay watcher).
import { createApp, type App } from "./app.ts";
import type { Config } from "./config.ts";
import { buildEthCore, type EthCore } from "./eth/eth.core.ts";
import { ethModule } from "./eth/eth.module.ts";
import { fibModule } from "./fib/fib.module.ts";
import { FibService } from "./fib/fib.service.ts";
import { READY, type ReadinessCheck } from "./http/meta.routes.ts";
import type { Logger } from "./log.ts";
import { metricsModule } from "./metrics/metrics.module.ts";
import { Clients, memoryRateLimitStore, RequestLimiter } from "./limits/request-limiter.ts";
import type { PexdModule } from "./module.ts";
import { BlockTemplate } from "./relay/block-doc.ts";
import { BLOCK_TEMPLATE } from "./relay/block.template.ts";
import { BlockWatcher, type HeadSource } from "./relay/block.watcher.ts";
import { relayServerModule, relayWatcherModule } from "./relay/relay.module.ts";
import { RelaySender } from "./relay/relay.sender.ts";
import { WatcherLeadership } from "./relay/watcher.leader.ts";
import { IDLE_TIMEOUT_S, RelayServer } from "./relay/relay.server.ts";
import type { RuntimeAdapters } from "./runtime/runtime.port.ts";
import type { Lease, Stores } from "./storage/ports.ts";
import { widgetsModule } from "./widgets/widgets.module.ts";

export const MODULES = ["fib", "widgets", "eth", "relay-server", "relay-watcher", "metrics"] as const;
export type ModuleName = (typeof MODULES)[number];

/** What each command runs: `pexd` everything configured, or one relay role alone. */
export const ROLES = {
  all: MODULES,
  "relay-server": ["relay-server", "metrics"],
  "relay-client": ["relay-watcher", "metrics"],
} as const satisfies Record<string, readonly ModuleName[]>;
export type Role = keyof typeof ROLES;

export interface ComposeOptions {
  log: Logger;
  version: string;
  /** Default "all". */
  role?: Role;
  /** Unix epoch milliseconds (default: now). */
  startedAt?: number;
  /** false: HTTP requests are not recorded (only for measuring the recording's own cost). */
  httpMetrics?: boolean;
  /** Dashboard stream interval (tests may shorten it). */
  streamIntervalMs?: number;
}

export interface Composition {
  app: App;
  modules: readonly PexdModule[];
  /** Fields for the lifecycle log lines (`listening`, `stopped`): data location, counter index. */
  facts(): Record<string, unknown>;
  /** Before the HTTP server drains: ends long-lived responses. */
  drain(): Promise<void>;
  /** After the HTTP server stopped: every module in reverse order, then the shared parts and stores. */
  close(): Promise<void>;
}

export async function compose(config: Config, runtime: RuntimeAdapters, o: ComposeOptions): Promise<Composition> {
  const role = o.role ?? "all";
  const names = new Set<ModuleName>(ROLES[role]);
  const { log } = o;
  const startedAt = o.startedAt ?? runtime.clock.wall();
  const modules: PexdModule[] = [];
  /** Shared parts, closed after every module, last opened first. */
  const shared: (() => Promise<void>)[] = [];
  const checks: ReadinessCheck[] = [];
  const close = async () => {
    for (const m of [...modules].reverse())
      await m.close?.().catch((e) => log.error("module close failed", { module: m.name, error: String(e) }));
    for (const c of shared.reverse()) await c().catch((e) => log.error("close failed", { error: String(e) }));
  };

  if (runtime.close) shared.push(runtime.close);
  await runtime.start?.();
  checks.push(...(runtime.checks ?? []));
  if (runtime.metrics) {
    const families = runtime.metrics;
    modules.push({ name: "runtime", register() {}, metrics: families });
  }
  try {
    const stores = names.has("fib") || names.has("widgets") || names.has("relay-server") ? await runtime.openStores() : null;
    if (stores) {
      shared.push(() => stores.close());
      checks.push({
        name: "storage",
        check: () =>
          stores.check().then(
            () => READY,
            (e: unknown) => ({ ok: false, critical: true, detail: e instanceof Error ? e.message : String(e) }),
          ),
      });
    }
    if (stores && names.has("fib")) {
      modules.push(fibModule(await FibService.open(stores.fib, { flushMs: config.fibFlushMs, log })));
    }
    if (stores && names.has("widgets")) modules.push(widgetsModule(stores.widgets));

    const upstreams = config.eth.http.length + config.eth.ws.length > 0;
    const watch = names.has("relay-watcher") && config.relay.targets.length > 0;
    let eth: EthCore | null = null;
    if (names.has("eth") || (watch && upstreams)) {
      const core = buildEthCore(config.eth, {
        log,
        connect: runtime.upstreamSocket,
        shared: runtime.sharedCache,
        ...(runtime.fetch ? { fetch: runtime.fetch } : {}),
      });
      shared.push(() => core.close());
      core.start();
      eth = core;
    }
    if (eth && names.has("eth")) {
      const limits = { maxBodyBytes: config.eth.maxBodyBytes, maxBatch: config.eth.maxBatch };
      modules.push(ethModule(eth, { upgrade: runtime.upgradeWebSocket, limits, wallNow: runtime.clock.wall }));
    }

    if (stores && names.has("relay-server")) modules.push(await relayServer(config, runtime, stores, log, role));
    if (names.has("relay-watcher")) {
      if (watch && eth?.tracker) modules.push(relayWatcher(config, runtime, eth, eth.tracker, log, stores?.watcherLease));
      else if (watch)
        log.warn("relay watcher off: PEXD_RELAY_TARGETS is set but no upstream (PEXD_ETH_HTTP_URL, PEXD_ETH_WS_URL or INFURA_PROJECT_ID)");
      else if (role === "relay-client") log.warn("relay-client: PEXD_RELAY_TARGETS is unset, nothing to do");
    }

    const clients = new Clients(runtime.peerAddress, config.limits.trustedProxies);
    const limiter = config.limits.rate
      ? new RequestLimiter({
          rule: config.limits.rate,
          store: runtime.rateLimitStore ?? memoryRateLimitStore(runtime.clock.wall),
          clients,
          token: config.apiToken,
        })
      : undefined;
    if (limiter) modules.push(rateLimitModule(limiter));

    let observeRequest: ((method: string, route: string, status: number, seconds: number) => void) | undefined;
    if (names.has("metrics")) {
      const metrics = metricsModule({
        modules: () => modules,
        processProbe: runtime.processProbe,
        assets: runtime.assets,
        version: o.version,
        startedAt,
        wallNow: runtime.clock.wall,
        httpMetrics: o.httpMetrics ?? true,
        ...(o.streamIntervalMs ? { streamIntervalMs: o.streamIntervalMs } : {}),
      });
      modules.push(metrics);
      observeRequest = metrics.observeRequest ?? undefined;
    }

    const app = createApp({
      config,
      log,
      version: o.version,
      modules,
      checks,
      assets: runtime.assets,
      now: runtime.clock.now,
      wallNow: runtime.clock.wall,
      startedAt,
      clients,
      ...(limiter ? { limiter } : {}),
      ...(observeRequest ? { observeRequest } : {}),
    });
    return {
      app,
      modules,
      facts: () => Object.assign({ role, ...(stores ? { database: stores.location } : {}) }, ...modules.map((m) => m.facts?.() ?? {})),
      drain: async () => {
        for (const m of modules) await m.drain?.();
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The rate limit's metric families (its routes are every route). */
function rateLimitModule(limiter: RequestLimiter): PexdModule {
  return {
    name: "rate-limit",
    register() {},
    metrics: () => [
      {
        name: "pexd_rate_limited_total",
        help: "Requests and JSON-RPC calls refused by PEXD_RATE_LIMIT, by where they came in (http: any route; rpc: POST /eth calls; ws: client WebSocket calls).",
        type: "counter",
        samples: (["http", "rpc", "ws"] as const).map((kind) => ({ labels: { kind }, value: limiter.refused[kind] })),
      },
      ...(limiter.store.size !== undefined
        ? [
            {
              name: "pexd_rate_limit_clients",
              help: "Clients with a rate-limit bucket in memory.",
              type: "gauge" as const,
              samples: [{ value: limiter.store.size }],
            },
          ]
        : []),
    ],
  };
}

async function relayServer(config: Config, runtime: RuntimeAdapters, stores: Stores, log: Logger, role: Role): Promise<PexdModule> {
  const blocksAtStart = (await stores.relay.totals()).blocks;
  if (config.relay.port === 0) {
    if (role === "relay-server") log.warn("relay-server: PEXD_RELAY_PORT is 0, so only the stats API runs");
    return relayServerModule({ store: stores.relay, blocksAtStart });
  }
  const handler = new RelayServer({ store: stores.relay, log, maxConnectionsPerIp: config.relay.maxConnectionsPerIp });
  const listener = await runtime.tcp.listen({ host: config.host, port: config.relay.port, idleTimeoutS: IDLE_TIMEOUT_S, handler });
  log.notice("relay server listening", { host: config.host, relay_port: listener.port });
  return relayServerModule({ store: stores.relay, server: { handler, listener }, blocksAtStart });
}

function relayWatcher(config: Config, runtime: RuntimeAdapters, eth: EthCore, head: HeadSource, log: Logger, lease?: Lease): PexdModule {
  const make = (resumeAfter: bigint | null) => {
    const senders = config.relay.targets.map((t) => new RelaySender(t, runtime.tcp, log));
    const watcher = new BlockWatcher({
      // Block fetches go through the gateway: its cache, coalescing, failover and metrics.
      rpc: (method, params) => eth.rpc(method, params),
      head,
      template: new BlockTemplate(BLOCK_TEMPLATE),
      senders,
      log,
      resumeAfter,
    });
    return { watcher, senders };
  };
  if (lease) {
    // Instances sharing a database: the lease holder alone runs the watcher.
    const lead = new WatcherLeadership({ lease, make, log });
    lead.start();
    return relayWatcherModule({ senders: () => lead.senders, leading: () => lead.leading, stop: () => lead.stop() });
  }
  const own = make(null);
  // Not awaited: an unreachable upstream at start-up must not hold the HTTP server back.
  void own.watcher.start();
  return relayWatcherModule({ senders: () => own.senders, leading: () => true, stop: () => own.watcher.stop() });
}
