// Relay wiring: the SQLite store with a read-only reader connection, the Bun TCP listener when
// PEXD_RELAY_PORT is set, and the watcher when PEXD_RELAY_TARGETS and an upstream are configured.
import { Database } from "bun:sqlite";
import { resolve } from "node:path";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { PexdModule } from "../../module.ts";
import { BlockTemplate } from "../../relay/block-doc.ts";
import { httpRpc } from "../../relay/http-rpc.ts";
import { relayModule, type RelayModuleDeps } from "../../relay/relay.module.ts";
import { IDLE_TIMEOUT_S, RelayServer } from "../../relay/relay.server.ts";
import { BlockWatcher, PollingHeadSource, RelaySender, type HeadSource } from "../../relay/watcher.ts";
import { combineHeadSources, WsHeadSource, type WebSocketCtor } from "../../relay/ws-head.source.ts";
import { SqliteRelayStore } from "../../storage/sqlite/relay.sqlite.ts";
import type { SqliteCommitter } from "../../storage/sqlite/committer.ts";
import { asPort } from "./sqlite.ts";
import { bunTcp } from "./tcp.ts";
import type { Wire } from "./wire.ts";

export const TEMPLATE_PATH = resolve(import.meta.dir, "../../relay/block.html");
/** eth_blockNumber polling period: the only head source without a WebSocket upstream… */
export const POLL_MS = 1000;
/** …and a slow safety net next to newHeads (an Infura free plan allows ~100k requests a day). */
export const POLL_WITH_WS_MS = 5000;

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
      // The gateway's tracker (newHeads through the shared hub, polling over HTTP as a safety net)
      // when pexd runs everything; its own newHeads client plus polling as a single role. The
      // tracker is started and stopped by the eth wiring, so the watcher gets a view of it.
      const ws = config.eth.ws[0];
      const head: HeadSource = shared
        ? { onHead: (cb) => shared.onHead(cb), start: async () => {}, stop: () => {} }
        : ws
          ? combineHeadSources([
              new WsHeadSource(ws, WebSocket as unknown as WebSocketCtor, log),
              new PollingHeadSource(rpc, POLL_WITH_WS_MS, log),
            ])
          : new PollingHeadSource(rpc, POLL_MS, log);
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
