// Storage ports: small async interfaces the services depend on. Adapters live in ./sqlite and
// ./memory; each port has one contract test that every adapter passes.
export type { FibStore } from "./fib.port.ts";
export type { WidgetStore } from "./widget.port.ts";
export type { RelayStore } from "./relay.port.ts";

/** Every store can say whether it is usable (for /ready) and be closed. */
export interface StoreHealth {
  ping(): Promise<void>;
}
