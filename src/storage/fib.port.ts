// The Fibonacci counter's storage port: only the index is stored; values are derived. Steps are
// applied by the store in one atomic, durable commit, so that several processes sharing a database
// (the row is the truth) hand out every index exactly once.

/** next: +1; previous: −1, stopping at 0; reset: 0; a number: set to that index (a single writer's flush). */
export type FibStep = "next" | "previous" | "reset" | number;

/** The index after one step. */
export function stepIndex(index: number, step: FibStep): number {
  if (typeof step === "number") return step;
  if (step === "next") return index < Number.MAX_SAFE_INTEGER ? index + 1 : index;
  if (step === "previous") return index > 0 ? index - 1 : 0;
  return 0;
}

/** The index after each step, in order, from `start`. */
export function stepIndexes(start: number, steps: readonly FibStep[]): number[] {
  const out: number[] = [];
  let i = start;
  for (const s of steps) out.push((i = stepIndex(i, s)));
  return out;
}

export interface FibStore {
  /** The committed index (0 when nothing was ever stored). */
  load(): Promise<number>;
  /**
   * Applies `steps` in order to the committed index in one atomic commit (holding the row's lock
   * where several processes share the store) and resolves, once durable, with the index they
   * started from (the index after each follows: stepIndexes). A caller may start the next apply
   * before this one resolves: batches are applied in call order, and each resolves once it (and so
   * every batch before it) is durable.
   */
  apply(steps: readonly FibStep[]): Promise<number>;
  /** Whether other processes may move the index too (then /current reads the committed one). */
  readonly shared: boolean;
}
