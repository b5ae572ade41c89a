// Storage ports: small async interfaces the services depend on. Adapters live in ./sqlite and
// ./memory; each port has one contract suite (test/contracts) that every adapter passes.
import type { FibStore } from "./fib.port.ts";
import type { RelayStore } from "./relay.port.ts";
import type { WidgetStore } from "./widget.port.ts";

export type { FibStore, RelayStore, WidgetStore };

/** Every store of one storage engine, opened together (one SQLite file, one database). */
export interface Stores {
  readonly fib: FibStore;
  readonly widgets: WidgetStore;
  readonly relay: RelayStore;
  /** Where the data lives, safe to log (a file path, or a URL without credentials). */
  readonly location: string;
  /** Resolves while storage answers (the `storage` readiness check). */
  check(): Promise<void>;
  /** Waits for pending commits and closes every handle. */
  close(): Promise<void>;
}
