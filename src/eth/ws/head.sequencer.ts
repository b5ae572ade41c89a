// newHeads without gaps: heads reach subscribers in order, and when the upstream connection was lost
// for a while (the node mined meanwhile, and a subscription only pushes what comes after it), the
// missing heads are fetched (eth_getBlockByNumber) and delivered first. A number at or below the last
// one (a reorg, or a node restarted on a fresh chain) is delivered as it is.

/** At most this many missing heads are fetched; an older gap is left (the relay watcher covers it itself). */
export const MAX_BACKFILL = 128;

/** The header fields of a newHeads notification, from a block (eth_getBlockByNumber(n, false)). */
export function headerOf(block: Record<string, unknown>): Record<string, unknown> {
  const { transactions: _t, uncles: _u, withdrawals: _w, size: _s, ...header } = block;
  return header;
}

const numberOf = (h: unknown): bigint | null => {
  const n = (h as { number?: unknown } | null)?.number;
  return typeof n === "string" && /^0x[0-9a-fA-F]+$/.test(n) ? BigInt(n) : null;
};

export class HeadSequencer {
  readonly #fetch: (n: bigint) => Promise<Record<string, unknown> | null>;
  readonly #deliver: (header: unknown) => void;
  readonly #onGap: (from: bigint, to: bigint, error?: string) => void;
  #last: bigint | null = null;
  #chain: Promise<void> = Promise.resolve();
  /** Heads fetched to fill gaps (metrics, tests). */
  backfilled = 0;

  constructor(o: {
    fetch: (n: bigint) => Promise<Record<string, unknown> | null>;
    deliver: (header: unknown) => void;
    /** Told of each gap filled (or left, with the error). */
    onGap?: (from: bigint, to: bigint, error?: string) => void;
  }) {
    this.#fetch = o.fetch;
    this.#deliver = o.deliver;
    this.#onGap = o.onGap ?? (() => {});
  }

  /** A head as the upstream pushed it; delivered after any earlier one and any gap before it. */
  push(header: unknown): void {
    this.#chain = this.#chain.then(() => this.#handle(header));
  }

  async #handle(header: unknown): Promise<void> {
    const n = numberOf(header);
    if (n !== null && this.#last !== null && n > this.#last + 1n) {
      const from = n - this.#last - 1n > BigInt(MAX_BACKFILL) ? n - BigInt(MAX_BACKFILL) : this.#last + 1n;
      let k = from;
      try {
        for (; k < n; k++) {
          const block = await this.#fetch(k);
          if (!block) throw new Error(`block ${k} not found`);
          this.#deliver(headerOf(block));
          this.backfilled++;
        }
        this.#onGap(from, n - 1n);
      } catch (e) {
        this.#onGap(k, n - 1n, e instanceof Error ? e.message : String(e));
      }
    }
    if (n !== null) this.#last = n;
    this.#deliver(header);
  }
}
