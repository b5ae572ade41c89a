// Group commit waits for the end of the current event-loop turn: setImmediate where the runtime has
// it (Bun, Node, Deno), else a 0 ms timer.
type Immediate = { setImmediate?: (fn: () => void) => unknown };

export const nextTurn: (fn: () => void) => void =
  typeof (globalThis as Immediate).setImmediate === "function"
    ? (fn) => void (globalThis as Immediate).setImmediate!(fn)
    : (fn) => void setTimeout(fn, 0);
