// The block relay as two PexdModules: the server side (stats routes over the store, and the TCP
// listener when PEXD_RELAY_PORT is set) and the watcher side (follows the head, sends to the
// targets). Each publishes its own metric families and closes in order: the watcher logs anything
// undelivered; the server stops listening and records the frames it already read.
import type { MetricFamily } from "../metrics/types.ts";
import type { PexdModule } from "../module.ts";
import type { RelayStore } from "../storage/relay.port.ts";
import { registerRelayRoutes } from "./relay.routes.ts";
import { SEND_OUTCOMES, type RelaySender } from "./relay.sender.ts";
import type { RelayServer } from "./relay.server.ts";
import type { TcpListener } from "./tcp.port.ts";

const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "counter", samples: [{ value }] });

export interface RelayServerModuleDeps {
  store: RelayStore;
  /** With its listener when PEXD_RELAY_PORT > 0; otherwise only the stats API runs. */
  server?: { handler: RelayServer; listener: TcpListener };
  /** Blocks already stored when the process started (pexd_relay_blocks). */
  blocksAtStart: number;
}

export function relayServerModule(d: RelayServerModuleDeps): PexdModule {
  const server = d.server?.handler;
  return {
    name: "relay-server",
    register(app) {
      registerRelayRoutes(app, d.store);
    },
    metrics(): MetricFamily[] {
      const c = server?.counters;
      return [
        counter("pexd_relay_frames_total", "Netstring frames received by the relay server.", c?.frames ?? 0),
        counter("pexd_relay_duplicates_total", "Frames for a block already stored (first copy wins).", c?.duplicates ?? 0),
        counter("pexd_relay_rejected_total", "Frames without a valid block-number meta tag.", c?.rejected ?? 0),
        counter("pexd_relay_bytes_total", "Payload bytes received by the relay server.", c?.bytes ?? 0),
        {
          name: "pexd_relay_clients",
          help: "TCP connections open on the relay server.",
          type: "gauge",
          samples: [{ value: server?.connected ?? 0 }],
        },
        {
          name: "pexd_relay_connections_refused_total",
          help: "Connections the relay server answered busy (at a connection limit), or closed to make room (idle), by reason.",
          type: "counter",
          samples: [
            { labels: { reason: "busy" }, value: c?.refused ?? 0 },
            { labels: { reason: "evicted_idle" }, value: c?.evicted ?? 0 },
          ],
        },
        {
          name: "pexd_relay_blocks",
          help: "Blocks stored by the relay server.",
          type: "gauge",
          samples: [{ value: d.blocksAtStart + (c?.stored ?? 0) }],
        },
      ];
    },
    async close() {
      d.server?.listener.stop();
      await server?.drain();
    },
  };
}

export interface RelayWatcherModuleDeps {
  /** The senders of the watcher this instance runs now. */
  senders(): RelaySender[];
  /** Whether this instance runs the watcher (always, unless instances share a lease). */
  leading(): boolean;
  stop(): Promise<void>;
}

export function relayWatcherModule(d: RelayWatcherModuleDeps): PexdModule {
  return {
    name: "relay-watcher",
    register() {},
    metrics: (): MetricFamily[] => {
      const senders = d.senders();
      return [
        {
          name: "pexd_relay_watcher_leading",
          help: "1 while this instance runs the block watcher (with a shared database only the lease holder does).",
          type: "gauge",
          samples: [{ value: d.leading() ? 1 : 0 }],
        },
        {
          name: "pexd_relay_sent_total",
          help: "Send attempts of the watcher, by target and outcome: ok (answered stored or duplicate: delivered); busy, rejected (answers), unacknowledged (no answer), error (no connection) are retried.",
          type: "counter",
          samples: senders.flatMap((s) =>
            SEND_OUTCOMES.map((outcome) => ({ labels: { target: s.label, outcome }, value: s.counters[outcome] })),
          ),
        },
        {
          name: "pexd_relay_retries_total",
          help: "Send attempts that will be retried (every outcome but ok), by target.",
          type: "counter",
          samples: senders.map((s) => ({ labels: { target: s.label }, value: s.counters.retries })),
        },
        {
          name: "pexd_relay_queue_depth",
          help: "Documents waiting for a target.",
          type: "gauge",
          samples: senders.map((s) => ({ labels: { target: s.label }, value: s.depth })),
        },
        {
          name: "pexd_relay_dropped_total",
          help: "Documents dropped because a target's queue was full.",
          type: "counter",
          samples: senders.map((s) => ({ labels: { target: s.label }, value: s.counters.dropped })),
        },
      ];
    },
    close: () => d.stop(),
  };
}
