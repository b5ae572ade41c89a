// Relay wiring: the SQLite store with a read-only reader connection, the Bun TCP listener when
// PEXD_RELAY_PORT is set, and the watcher when PEXD_RELAY_TARGETS and an upstream are configured.
import { Database } from "bun:sqlite";
import { resolve } from "node:path";
import type { Config } from "../../config.ts";
import { HttpTransport } from "../../eth/http.transport.ts";
import { HeadTracker } from "../../eth/ws/head.tracker.ts";
import { SubscriptionHub } from "../../eth/ws/subscription.hub.ts";
import { WsTransport } from "../../eth/ws/ws.transport.ts";
import type { Logger } from "../../log.ts";
import type { PexdModule } from "../../module.ts";
import { BlockTemplate } from "../../relay/block-doc.ts";
import { httpRpc } from "../../relay/http-rpc.ts";
import { relayModule, type RelayModuleDeps } from "../../relay/relay.module.ts";
import { IDLE_TIMEOUT_S, RelayServer } from "../../relay/relay.server.ts";
import { BlockWatcher, RelaySender, type HeadSource } from "../../relay/watcher.ts";
import { SqliteRelayStore } from "../../storage/sqlite/relay.sqlite.ts";
import type { SqliteCommitter } from "../../storage/sqlite/committer.ts";
import { bunSocket } from "./eth.wire.ts";
import { asPort } from "./sqlite.ts";
import { bunTcp } from "./tcp.ts";
import type { Wire } from "./wire.ts";

export const TEMPLATE_PATH = resolve(import.meta.dir, "../../relay/block.html");
/** relay-client alone: eth_blockNumber polling period without a WebSocket upstream (the tracker
 * slows it to a 5 s safety net beside newHeads: an Infura free plan allows ~100k requests a day). */
export const POLL_MS = 1000;

export interface RelayParts {
  /** Stats routes + store (and the TCP server when PEXD_RELAY_PORT > 0). */
  server: boolean;
  /** The watcher, when targets and an upstream are configured. */
  watcher: boolean;
}

export async function buildRelay(
  config: Config,
  log: Logger,
  storage: { db: Database; tx: SqliteCommitter } | null,
  parts: RelayParts = { server: true, watcher: true },
  /** The gateway's head tracker, when the eth wiring built one: one newHeads subscription for both. */
  shared?: HeadSource,
): Promise<PexdModule> {
  const deps: RelayModuleDeps = {};
  let reader: Database | undefined;
  if (parts.server && storage) {
    reader = new Database(storage.db.filename, { readonly: true, strict: true });
    const store = new SqliteRelayStore(asPort(storage.db), { reader: asPort(reader), committer: storage.tx });
    deps.store = store;
    deps.blocksAtStart = (await store.totals()).blocks;
    if (config.relay.port > 0) {
      const server = new RelayServer({ store, log });
      const listener = await bunTcp.listen({ host: config.host, port: config.relay.port, idleTimeoutS: IDLE_TIMEOUT_S, handler: server });
      deps.server = server;
      deps.stopListener = () => listener.stop();
      log.notice("relay server listening", { host: config.host, relay_port: listener.port });
    }
  }
  if (parts.watcher && config.relay.targets.length) {
    if (!config.eth.http.length) {
      log.warn("relay watcher off: PEXD_RELAY_TARGETS is set but no HTTP upstream (PEXD_ETH_HTTP_URL or INFURA_PROJECT_ID)");
    } else {
      const rpc = httpRpc(config.eth.http, config.eth.timeoutMs);
      const template = new BlockTemplate(await Bun.file(TEMPLATE_PATH).text());
      const senders = config.relay.targets.map((t) => new RelaySender(t, bunTcp, log));
      // The gateway's tracker when pexd runs everything (started and stopped by the eth wiring, so
      // the watcher gets a view of it); a tracker of its own as a single role.
      const head: HeadSource = shared
        ? { onHead: (cb) => shared.onHead(cb), start: async () => {}, stop: () => {} }
        : ownHeadTracker(config, log);
      const watcher = new BlockWatcher({ rpc, head, template, senders, log });
      deps.watcher = watcher;
      deps.senders = senders;
      // Not awaited: an unreachable upstream at start-up must not hold the HTTP server back.
      void watcher.start();
    }
  }
  const m = relayModule(deps);
  return {
    ...m,
    close: async () => {
      await m.close?.();
      reader?.close();
    },
  };
}

export const wireRelay: Wire = async ({ config, log, db, tx, shared }) =>
  buildRelay(config, log, { db, tx }, { server: true, watcher: true }, shared.heads);

/**
 * `pexd relay-client` alone: the gateway's HeadTracker on its own upstream connections, i.e.
 * newHeads over the first reachable PEXD_ETH_WS_URL (reconnecting with backoff) when one is
 * configured, and eth_blockNumber polling over HTTP every POLL_MS (every 5 s beside newHeads).
 */
function ownHeadTracker(config: Config, log: Logger): HeadSource {
  const ws = config.eth.ws.length
    ? new WsTransport({ upstreams: config.eth.ws, timeoutMs: config.eth.timeoutMs, connect: bunSocket, log })
    : null;
  const tracker = new HeadTracker({
    log,
    poll: new HttpTransport({ upstreams: config.eth.http, timeoutMs: config.eth.timeoutMs }),
    pollMs: POLL_MS,
    ...(ws ? { hub: new SubscriptionHub(ws) } : {}),
  });
  return {
    onHead: (cb) => tracker.onHead(cb),
    start: () => tracker.start(),
    stop: () => {
      tracker.stop();
      void ws?.close();
    },
  };
}
