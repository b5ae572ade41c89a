// The block watcher (docs/relay.md): follows the chain head from the block current at start-up, renders
// every block (no gaps) and hands the document to one RelaySender per target.
import type { Logger } from "../log.ts";
import { parseBlock, type BlockTemplate } from "./block-doc.ts";
import { encodeNetstring } from "./netstring.ts";
import type { RelaySender } from "./relay.sender.ts";
import { sleep } from "./sleep.ts";

/** A JSON-RPC call to the upstream: resolves with `result`, rejects on transport or RPC error. */
export type Rpc = (method: string, params: unknown[]) => Promise<unknown>;

/** Where head numbers come from: the gateway's HeadTracker (newHeads, eth_blockNumber polling). */
export interface HeadSource {
  /** Calls `cb` with each new head until the returned function is called. */
  onHead(cb: (blockNumber: bigint) => void): () => void;
}

/** A watcher resuming after another one's progress goes back at most this many blocks (its queues hold 1,000). */
export const MAX_CATCH_UP = 256n;

const hexQuantity = (v: unknown): bigint => {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]+$/.test(v)) throw new TypeError(`not a hex quantity: ${JSON.stringify(v)?.slice(0, 40)}`);
  return BigInt(v);
};

export interface WatcherOptions {
  rpc: Rpc;
  head: HeadSource;
  template: BlockTemplate;
  senders: RelaySender[];
  log: Logger;
  /** Wait between retries of a failed block fetch. */
  retryMs?: number;
  /** Called with each block number once its document is queued to every sender (tests, metrics). */
  onBlock?(n: bigint): void;
  /**
   * Where to start: the block after another watcher's last delivered one (a takeover), within
   * MAX_CATCH_UP of the head; default the block current at start-up (docs/relay.md).
   */
  resumeAfter?: bigint | null;
}

export class BlockWatcher {
  readonly #o: WatcherOptions;
  #next = -1n;
  #target = -1n;
  #running = false;
  #abort = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  #unsubscribe: (() => void) | null = null;
  /** Blocks rendered and queued. */
  rendered = 0;
  /** The highest head seen (metrics). */
  head = -1n;

  constructor(o: WatcherOptions) {
    this.#o = o;
  }

  /** Resolves once the start block is known (retrying while the upstream is unreachable). */
  async start(): Promise<void> {
    const signal = this.#abort.signal;
    let wait = this.#o.retryMs ?? 500;
    while (!signal.aborted) {
      try {
        const current = hexQuantity(await this.#o.rpc("eth_blockNumber", []));
        const after = this.#o.resumeAfter;
        const start =
          after == null || after >= current ? current : after + 1n > current - MAX_CATCH_UP ? after + 1n : current - MAX_CATCH_UP;
        this.#next = start;
        this.#o.log.info("relay watcher started", {
          start_block: start.toString(),
          ...(after != null ? { resumed_after: after.toString() } : {}),
          targets: this.#o.senders.map((s) => s.label),
        });
        this.#unsubscribe = this.#o.head.onHead((n) => this.#advance(n));
        this.#advance(current);
        return;
      } catch (e) {
        this.#o.log.warn("relay watcher: upstream unreachable at start, retrying", {
          retry_ms: wait,
          error: e instanceof Error ? e.message : String(e),
        });
        await sleep(wait, signal);
        wait = Math.min(wait * 2, 30_000);
      }
    }
  }

  #advance(head: bigint): void {
    if (head > this.head) this.head = head;
    if (head > this.#target) this.#target = head;
    if (!this.#running && this.#next >= 0n) this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    this.#running = true;
    const signal = this.#abort.signal;
    try {
      while (this.#next <= this.#target && !signal.aborted) {
        const n = this.#next;
        let raw: unknown;
        try {
          raw = await this.#o.rpc("eth_getBlockByNumber", [`0x${n.toString(16)}`, false]);
          // A node behind a load balancer may not know the block yet: retry, never skip.
          if (raw === null) throw new Error("block not found yet");
        } catch (e) {
          this.#o.log.warn("relay watcher: block fetch failed, retrying", {
            block: n.toString(),
            error: e instanceof Error ? e.message : String(e),
          });
          await sleep(this.#o.retryMs ?? 500, signal);
          continue;
        }
        let frame: Uint8Array;
        try {
          frame = encodeNetstring(this.#o.template.render(parseBlock(raw)));
        } catch (e) {
          this.#o.log.error("relay watcher: invalid block from upstream, retrying", {
            block: n.toString(),
            error: e instanceof Error ? e.message : String(e),
          });
          await sleep(this.#o.retryMs ?? 500, signal);
          continue;
        }
        for (const s of this.#o.senders) s.enqueue(n, frame);
        this.rendered++;
        this.#next = n + 1n;
        this.#o.onBlock?.(n);
      }
    } finally {
      this.#running = false;
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#unsubscribe?.();
    await this.#loop;
    await Promise.all(this.#o.senders.map((s) => s.stop()));
  }
}
