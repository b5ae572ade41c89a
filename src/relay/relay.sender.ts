// One relay target: a FIFO of framed block documents, each sent over a new TCP connection in order.
// A document is delivered only when the server answers `stored` or `duplicate` (docs/security.md); `busy`,
// `rejected`, no answer, or no connection are retried with backoff while the queue holds it; beyond
// its bound the oldest is dropped (logged, counted).
import type { Logger } from "../log.ts";
import { NetstringDecoder } from "./netstring.ts";
import { sleep } from "./sleep.ts";
import type { TcpTransport } from "./tcp.port.ts";

/** How one attempt ended: delivered (`ok`), or why it will be tried again. */
export type SendOutcome = "ok" | "busy" | "rejected" | "unacknowledged" | "error";
export const SEND_OUTCOMES: readonly SendOutcome[] = ["ok", "busy", "rejected", "unacknowledged", "error"];

/** The server's answer, from the bytes read: the first netstring, or null if it is not complete. */
function answerOf(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return null;
  let first: Uint8Array | null = null;
  try {
    new NetstringDecoder(64).push(bytes, (p) => {
      first ??= p;
    });
  } catch {
    return "malformed";
  }
  return first === null ? null : new TextDecoder().decode(first);
}

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
  /** Attempts by outcome (`ok` is a delivered document), retries, and documents dropped at the bound. */
  readonly counters: Record<SendOutcome, number> & { retries: number; dropped: number } = {
    ok: 0,
    busy: 0,
    rejected: 0,
    unacknowledged: 0,
    error: 0,
    retries: 0,
    dropped: 0,
  };

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

  /** The last block this target acknowledged (documents go in order, so every earlier one was too). */
  lastDelivered: bigint | null = null;

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
        const [outcome, detail] = await this.#attempt(head.frame);
        this.counters[outcome]++;
        if (outcome === "ok") {
          if (this.#queue[0] === head) this.#queue.shift();
          this.lastDelivered = head.block;
          if (down)
            this.#log.info("relay target back up", { target: this.label, block: head.block.toString(), queued: this.#queue.length });
          down = false;
          backoff = this.#minMs;
          continue;
        }
        this.counters.retries++;
        if (!down || backoff >= this.#maxMs) {
          this.#log.warn("relay send failed; retrying with backoff", {
            target: this.label,
            block: head.block.toString(),
            outcome,
            queued: this.#queue.length,
            retry_ms: backoff,
            error: detail,
          });
        }
        down = true;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, this.#maxMs);
      }
    } finally {
      this.#running = false;
    }
  }

  /** One connection: the frame out, the server's answer back. */
  async #attempt(frame: Uint8Array): Promise<[SendOutcome, string]> {
    let bytes: Uint8Array;
    try {
      bytes = await this.#tcp.exchange(this.#host, this.#port, frame, {
        timeoutMs: this.#timeoutMs,
        complete: (b) => answerOf(b) !== null,
      });
    } catch (e) {
      return ["error", e instanceof Error ? e.message : String(e)];
    }
    const answer = answerOf(bytes);
    if (answer === "stored" || answer === "duplicate") return ["ok", answer];
    if (answer === "busy" || answer === "rejected") return [answer, `the server answered ${answer}`];
    return [
      "unacknowledged",
      answer === null ? "the connection closed without an answer" : `unexpected answer ${JSON.stringify(answer.slice(0, 32))}`,
    ];
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
