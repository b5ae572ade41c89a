// Shared fan-out of eth_subscribe: identical subscriptions of many clients (same kind, same
// canonicalised filter) ride on one upstream subscription, which ends after its last subscriber.
import { cacheKey } from "../eth.policy.ts";
import type { Logger } from "../../log.ts";
import { LIMIT_EXCEEDED, RpcFault } from "../jsonrpc.ts";
import { HeadSequencer } from "./head.sequencer.ts";
import type { Subscription, UpstreamSubscriptions } from "./upstream.subscriptions.ts";

export type Sink = (clientSubId: string, result: unknown) => void;

interface Group {
  key: string;
  upstream: Promise<Subscription>;
  members: Map<string, Sink>;
}

/** Kinds a client may subscribe to (what geth, Infura and anvil offer). */
export const SUBSCRIPTION_KINDS = new Set(["newHeads", "logs", "newPendingTransactions", "syncing"]);

export class SubscriptionHub {
  #upstream: UpstreamSubscriptions;
  #groups = new Map<string, Group>();
  #byClientId = new Map<string, Group>();

  readonly #maxUpstream: number;
  readonly #fetchBlock: ((n: bigint) => Promise<Record<string, unknown> | null>) | undefined;
  readonly #log: Logger | undefined;
  /** Heads fetched to fill gaps in newHeads after a reconnect (metrics). */
  backfilled = 0;

  constructor(
    upstream: UpstreamSubscriptions,
    opts: {
      maxUpstream?: number;
      /** eth_getBlockByNumber(n, false) over the same upstream: fills newHeads gaps after a reconnect. */
      fetchBlock?: (n: bigint) => Promise<Record<string, unknown> | null>;
      log?: Logger;
    } = {},
  ) {
    this.#upstream = upstream;
    this.#maxUpstream = opts.maxUpstream ?? 1000;
    this.#fetchBlock = opts.fetchBlock;
    this.#log = opts.log;
  }

  /** Client-side subscriptions (one per client eth_subscribe). */
  get subscribers(): number {
    return this.#byClientId.size;
  }

  /** Upstream subscriptions held. */
  get upstreamSubscriptions(): number {
    return this.#groups.size;
  }

  /**
   * Joins (or opens) the group for `params`; resolves with a fresh client subscription id once the
   * upstream subscription exists. Rejects with the upstream's error when it refuses.
   */
  async subscribe(params: unknown[], sink: Sink): Promise<string> {
    const key = cacheKey("eth_subscribe", params);
    let g = this.#groups.get(key);
    if (!g && this.#groups.size >= this.#maxUpstream) {
      throw new RpcFault(
        LIMIT_EXCEEDED,
        `too many distinct subscriptions on this gateway (PEXD_ETH_MAX_UPSTREAM_SUBSCRIPTIONS=${this.#maxUpstream}); identical ones are shared`,
      );
    }
    if (!g) {
      const members = new Map<string, Sink>();
      const fanOut = (result: unknown) => {
        for (const [id, s] of members) s(id, result);
      };
      // newHeads: in order and without gaps, even across a reconnect of the upstream socket.
      const sequencer =
        params[0] === "newHeads" && this.#fetchBlock
          ? new HeadSequencer({
              fetch: this.#fetchBlock,
              deliver: (h) => {
                fanOut(h);
              },
              onGap: (from, to, error) => {
                if (!error) this.backfilled += Number(to - from + 1n);
                this.#log?.[error ? "warn" : "info"](error ? "newHeads gap not filled" : "newHeads gap filled", {
                  from: from.toString(),
                  to: to.toString(),
                  ...(error ? { error } : {}),
                });
              },
            })
          : null;
      const upstream = this.#upstream.subscribe(params, sequencer ? (h) => sequencer.push(h) : fanOut);
      g = { key, upstream, members };
      this.#groups.set(key, g);
      upstream.catch(() => {
        if (this.#groups.get(key) === g) this.#groups.delete(key);
      });
    }
    await g.upstream;
    const id = newSubscriptionId();
    g.members.set(id, sink);
    this.#byClientId.set(id, g);
    return id;
  }

  /** Leaves; the upstream subscription ends with its last member. False if unknown. */
  async unsubscribe(clientSubId: string): Promise<boolean> {
    const g = this.#byClientId.get(clientSubId);
    if (!g) return false;
    this.#byClientId.delete(clientSubId);
    g.members.delete(clientSubId);
    if (g.members.size === 0 && this.#groups.get(g.key) === g) {
      this.#groups.delete(g.key);
      await (await g.upstream).unsubscribe();
    }
    return true;
  }
}

/** 0x + 32 hex digits, like geth's subscription ids. */
function newSubscriptionId(): string {
  return `0x${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
