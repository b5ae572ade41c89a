// Storage ports: small async interfaces the services depend on. Adapters live in ./sqlite and
// ./memory; each port has one contract suite (test/contracts) that every adapter passes.
import type { FibStore } from "./fib.port.ts";
import type { RelayStore } from "./relay.port.ts";
import type { WidgetStore } from "./widget.port.ts";

export type { FibStore, RelayStore, WidgetStore };

/**
 * One holder at a time among the processes sharing a store — the relay watcher's, so that exactly
 * one instance sends each block. Absent where one process owns the store (SQLite).
 */
export interface Lease {
  /** Tries to become (or stay) the holder: true while this process holds it. */
  tryAcquire(): Promise<boolean>;
  /** Gives it up, so another process takes it over at once. */
  release(): Promise<void>;
  /** The last block the holder delivered to every target (a new holder resumes after it), or null. */
  progress(): Promise<bigint | null>;
  saveProgress(block: bigint): Promise<void>;
}

/** Every store of one storage engine, opened together (one SQLite file, one database). */
export interface Stores {
  readonly fib: FibStore;
  readonly widgets: WidgetStore;
  readonly relay: RelayStore;
  /** Present when several processes share these stores. */
  readonly watcherLease?: Lease;
  /** Where the data lives, safe to log (a file path, or a URL without credentials). */
  readonly location: string;
  /** Resolves while storage answers (the `storage` readiness check). */
  check(): Promise<void>;
  /** Waits for pending commits and closes every handle. */
  close(): Promise<void>;
}
