/** Durable Fibonacci cursor: only the index is stored; values are derived. */
export interface FibStore {
  /** The last committed index (0 when nothing was ever stored). */
  load(): Promise<number>;
  /** Durably records the index; resolves once committed. */
  save(index: number): Promise<void>;
}
