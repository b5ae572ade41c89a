// The block relay as a PexdModule: stats routes, relay metrics, and an orderly close (stop the
// listener, record frames in flight, stop the watcher and log anything undelivered).
import type { PexdModule } from "../module.ts";
import type { MetricFamily } from "../metrics/types.ts";
import type { RelayStore } from "../storage/relay.port.ts";
import { registerRelayRoutes } from "./relay.routes.ts";
import type { RelayServer } from "./relay.server.ts";
import type { BlockWatcher, RelaySender } from "./watcher.ts";

export interface RelayModuleDeps {
  /** Present where this process stores blocks (stats routes are registered only with it). */
  store?: RelayStore;
  server?: RelayServer;
  /** Stops the TCP listener. */
  stopListener?: () => void;
  /** Blocks already stored when the process started (pexd_relay_blocks). */
  blocksAtStart?: number;
  watcher?: BlockWatcher;
  senders?: RelaySender[];
}

export function relayModule(d: RelayModuleDeps): PexdModule {
  const senders = d.senders ?? [];
  return {
    name: "relay",
    register(app) {
      if (d.store) registerRelayRoutes(app, d.store);
    },
    metrics(): MetricFamily[] {
      const c = d.server?.counters;
      const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: "counter", samples: [{ value }] });
      const out: MetricFamily[] = [
        counter("pexd_relay_frames_total", "Netstring frames received by the relay server.", c?.frames ?? 0),
        counter("pexd_relay_duplicates_total", "Frames for a block already stored (first copy wins).", c?.duplicates ?? 0),
        counter("pexd_relay_rejected_total", "Frames without a valid block-number meta tag.", c?.rejected ?? 0),
        counter("pexd_relay_bytes_total", "Payload bytes received by the relay server.", c?.bytes ?? 0),
        {
          name: "pexd_relay_clients",
          help: "TCP connections open on the relay server.",
          type: "gauge",
          samples: [{ value: d.server?.connected ?? 0 }],
        },
        {
          name: "pexd_relay_blocks",
          help: "Blocks stored by the relay server.",
          type: "gauge",
          samples: [{ value: (d.blocksAtStart ?? 0) + (c?.stored ?? 0) }],
        },
        {
          name: "pexd_relay_sent_total",
          help: "Block documents sent by the watcher, by target and outcome (error: one failed attempt, retried).",
          type: "counter",
          samples: senders.flatMap((s) => [
            { labels: { target: s.label, outcome: "ok" }, value: s.counters.sent },
            { labels: { target: s.label, outcome: "error" }, value: s.counters.failed },
          ]),
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
      // A family without samples (no watcher, no targets) is left out rather than printed empty.
      return out.filter((f) => f.samples.length > 0);
    },
    async close() {
      await d.watcher?.stop();
      d.stopListener?.();
      await d.server?.drain();
      await d.store?.close();
    },
  };
}
