// The relay client role (SPEC §4): follows the chain head from the block current at start-up, renders
// every block (no gaps) and hands the document to one sender per target (new TCP connection each).
import type { Logger } from "../log.ts";
import { parseBlock, type BlockTemplate } from "./block-doc.ts";
import { encodeNetstring } from "./netstring.ts";
import type { TcpTransport } from "./tcp.port.ts";

/** A JSON-RPC call to the upstream: resolves with `result`, rejects on transport or RPC error. */
export type Rpc = (method: string, params: unknown[]) => Promise<unknown>;

/** Where head numbers come from: the gateway's HeadTracker (newHeads, eth_blockNumber polling). */
export interface HeadSource {
  onHead(cb: (blockNumber: bigint) => void): void;
  start(): Promise<void>;
  stop(): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

const hexQuantity = (v: unknown): bigint => {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]+$/.test(v)) throw new TypeError(`not a hex quantity: ${JSON.stringify(v)?.slice(0, 40)}`);
  return BigInt(v);
};

export interface SenderOptions {
  /** Documents kept per target while it is down; the oldest is dropped (logged, counted) beyond it. */
  maxQueue?: number;
  timeoutMs?: number;
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

export const DEFAULT_MAX_QUEUE = 1000;

/** One target: a FIFO of framed documents sent in order, one new connection each, with backoff. */
export class RelaySender {
  readonly label: string;
  readonly #host: string;
  readonly #port: number;
  readonly #tcp: TcpTransport;
  readonly #log: Logger;
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #minMs: number;
  readonly #maxMs: number;
  #queue: { block: bigint; frame: Uint8Array }[] = [];
  #running = false;
  #abort = new AbortController();
  #idle: Promise<void> = Promise.resolve();
  readonly counters = { sent: 0, failed: 0, dropped: 0 };

  constructor(target: { host: string; port: number }, tcp: TcpTransport, log: Logger, opts: SenderOptions = {}) {
    this.#host = target.host;
    this.#port = target.port;
    this.label = `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
    this.#tcp = tcp;
    this.#log = log;
    this.#max = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#minMs = opts.backoffMinMs ?? 100;
    this.#maxMs = opts.backoffMaxMs ?? 30_000;
  }

  get depth(): number {
    return this.#queue.length;
  }

  enqueue(block: bigint, frame: Uint8Array): void {
    if (this.#abort.signal.aborted) return;
    while (this.#queue.length >= this.#max) {
      const dropped = this.#queue.shift()!;
      this.counters.dropped++;
      this.#log.warn("relay queue full: oldest block dropped", { target: this.label, block: dropped.block.toString(), bound: this.#max });
    }
    this.#queue.push({ block, frame });
    if (!this.#running) this.#idle = this.#drain();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    const signal = this.#abort.signal;
    let backoff = this.#minMs;
    let down = false;
    try {
      while (this.#queue.length && !signal.aborted) {
        const head = this.#queue[0]!;
        try {
          await this.#tcp.sendOnce(this.#host, this.#port, head.frame, this.#timeoutMs);
          if (this.#queue[0] === head) this.#queue.shift();
          this.counters.sent++;
          if (down)
            this.#log.info("relay target back up", { target: this.label, block: head.block.toString(), queued: this.#queue.length });
          down = false;
          backoff = this.#minMs;
        } catch (e) {
          this.counters.failed++;
          if (!down || backoff >= this.#maxMs) {
            this.#log.warn("relay send failed; retrying with backoff", {
              target: this.label,
              block: head.block.toString(),
              queued: this.#queue.length,
              retry_ms: backoff,
              error: e instanceof Error ? e.message : String(e),
            });
          }
          down = true;
          await sleep(backoff, signal);
          backoff = Math.min(backoff * 2, this.#maxMs);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  /** Stops retrying; documents still queued are logged as undelivered (never silently lost). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#idle;
    if (this.#queue.length) {
      this.#log.warn("relay stopped with undelivered blocks", {
        target: this.label,
        undelivered: this.#queue.length,
        first: this.#queue[0]!.block.toString(),
      });
    }
  }
}

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
}

export class BlockWatcher {
  readonly #o: WatcherOptions;
  #next = -1n;
  #target = -1n;
  #running = false;
  #abort = new AbortController();
  #loop: Promise<void> = Promise.resolve();
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
        const start = hexQuantity(await this.#o.rpc("eth_blockNumber", []));
        this.#next = start;
        this.#o.log.info("relay watcher started", { start_block: start.toString(), targets: this.#o.senders.map((s) => s.label) });
        this.#o.head.onHead((n) => this.#advance(n));
        await this.#o.head.start();
        this.#advance(start);
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
    this.#o.head.stop();
    await this.#loop;
    await Promise.all(this.#o.senders.map((s) => s.stop()));
  }
}
