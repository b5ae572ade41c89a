import type { FibStore } from "../ports.ts";

export class MemoryFibStore implements FibStore {
  #index = 0;
  async load(): Promise<number> {
    return this.#index;
  }
  async save(index: number): Promise<void> {
    this.#index = index;
  }
}
