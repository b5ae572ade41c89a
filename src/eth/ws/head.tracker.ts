// Follows the chain head: newHeads pushed over the upstream WebSocket (through the shared hub),
// else eth_blockNumber polled over HTTP. Each new head reaches the gateway's cache (head-dependent
// entries dropped at once) and any listener, e.g. the block relay's watcher.
import { READY, type ReadinessCheck } from "../../http/meta.routes.ts";
import type { Logger } from "../../log.ts";
import type { RpcTransport } from "../transport.ts";
import type { SubscriptionHub } from "./subscription.hub.ts";

/** A head is stalled after max(STALL_MIN_MS, STALL_FACTOR × the observed block interval). */
export const STALL_MIN_MS = 30_000;
export const STALL_FACTOR = 10;

export interface HeadTrackerOptions {
  log: Logger;
  /** Push: newHeads through the hub (preferred). */
  hub?: SubscriptionHub;
  /** Pull: eth_blockNumber over this transport every pollMs (without a hub, and as a safety net). */
  poll?: RpcTransport;
  pollMs?: number;
  now?: () => number;
}

export class HeadTracker {
  #o: HeadTrackerOptions;
  #listeners: ((n: bigint) => void)[] = [];
  #head: bigint | undefined;
  #at = 0;
  #interval = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #subId: string | null = null;
  #stopped = false;
  #now: () => number;

  constructor(o: HeadTrackerOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  get head(): bigint | undefined {
    return this.#head;
  }

  /** Milliseconds since the last new head (Infinity before the first). */
  get ageMs(): number {
    return this.#head === undefined ? Number.POSITIVE_INFINITY : this.#now() - this.#at;
  }

  get stallAfterMs(): number {
    return Math.max(STALL_MIN_MS, STALL_FACTOR * this.#interval);
  }

  /** Calls `cb` with each new head until the returned function is called. */
  onHead(cb: (n: bigint) => void): () => void {
    this.#listeners.push(cb);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== cb);
    };
  }

  /** Starts following; never waits for the upstream (a dead one must not hold start-up). */
  async start(): Promise<void> {
    this.#stopped = false;
    void this.#subscribe();
    if (this.#o.poll && this.#o.poll.upstreams.length > 0) this.#schedulePoll(0);
    else if (this.#o.hub) this.#retryTimer();
  }

  #subscribing = false;

  async #subscribe(): Promise<void> {
    if (!this.#o.hub || this.#subId || this.#subscribing || this.#stopped) return;
    this.#subscribing = true;
    try {
      const id = await this.#o.hub.subscribe(["newHeads"], (_id, header) => {
        const n = (header as { number?: string } | null)?.number;
        if (typeof n === "string") this.#seen(BigInt(n));
      });
      if (this.#stopped) void this.#o.hub.unsubscribe(id).catch(() => {});
      else {
        this.#subId = id;
        this.#o.log.info("head tracker: newHeads subscribed");
      }
    } catch (e) {
      this.#o.log.warn("newHeads subscription failed; retrying (polling meanwhile when HTTP is configured)", {
        error: e instanceof Error ? e.message : String(e),
      });
    } finally {
      this.#subscribing = false;
    }
  }

  /** Without HTTP polling, a failed newHeads subscription is retried on its own timer. */
  #retryTimer(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#subscribe().finally(() => this.#retryTimer());
    }, 5000);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#subId && this.#o.hub) void this.#o.hub.unsubscribe(this.#subId).catch(() => {});
    this.#subId = null;
  }

  /** /ready: fails when no head was seen yet or it stopped moving. */
  check(): ReadinessCheck {
    return {
      name: "eth_head",
      check: () => {
        if (this.#head === undefined) return { ok: false, critical: true, detail: "no chain head seen yet" };
        const age = this.ageMs;
        if (age > this.stallAfterMs)
          return { ok: false, critical: true, detail: `head ${this.#head} unchanged for ${Math.round(age / 1000)} s` };
        return READY;
      },
    };
  }

  #schedulePoll(ms: number): void {
    if (this.#stopped) return;
    // With push active, polling is only a slow safety net (a paid upstream counts every call).
    const every = this.#o.pollMs ?? 1000;
    this.#timer = setTimeout(() => void this.#poll(), ms);
    (this.#timer as { unref?: () => void }).unref?.();
    this.#nextPollMs = this.#subId ? Math.max(every, 5000) : every;
  }

  #nextPollMs = 1000;

  async #poll(): Promise<void> {
    void this.#subscribe(); // (re)try push when it is not up
    try {
      const r = await this.#o.poll!.call("eth_blockNumber", []);
      if (typeof r.result === "string") this.#seen(BigInt(r.result));
    } catch {
      /* the stall check reports a head that stops moving */
    }
    this.#schedulePoll(this.#nextPollMs);
  }

  #seen(n: bigint): void {
    if (this.#head !== undefined && n <= this.#head) return;
    const t = this.#now();
    if (this.#head !== undefined) this.#interval = this.#interval ? (this.#interval * 7 + (t - this.#at)) / 8 : t - this.#at;
    this.#head = n;
    this.#at = t;
    for (const cb of this.#listeners) {
      try {
        cb(n);
      } catch (e) {
        this.#o.log.error("head listener failed", { error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
}
