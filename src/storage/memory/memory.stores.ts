// Every store in memory (tests, Deno, edge runtimes): the same rules as SQLite, nothing durable.
import type { Stores } from "../ports.ts";
import { MemoryFibStore } from "./fib.memory.ts";
import { MemoryRelayStore } from "./relay.memory.ts";
import { MemoryWidgetStore } from "./widget.memory.ts";

export function memoryStores(): Stores {
  return {
    fib: new MemoryFibStore(),
    widgets: new MemoryWidgetStore(),
    relay: new MemoryRelayStore(),
    location: "memory",
    check: async () => {},
    close: async () => {},
  };
}
