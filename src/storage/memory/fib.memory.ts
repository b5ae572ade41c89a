import { stepIndexes, type FibStep, type FibStore } from "../fib.port.ts";

export class MemoryFibStore implements FibStore {
  readonly shared = false;
  #index = 0;
  async load(): Promise<number> {
    return this.#index;
  }
  async apply(steps: readonly FibStep[]): Promise<number> {
    const start = this.#index;
    this.#index = stepIndexes(start, steps).at(-1) ?? start;
    return start;
  }
}
