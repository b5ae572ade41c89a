// The registry of upstream subscriptions on the multiplexed WebSocket: each keeps a caller-visible
// id that survives reconnects (the node's id changes), and notifications are routed by the node's id.
import type { Logger } from "../../log.ts";
import { RpcFault } from "../jsonrpc.ts";
import type { JsonRpcResponse } from "../transport.ts";

export interface Subscription {
  /** Stable for the caller across reconnects (the upstream's id may change). */
  readonly id: string;
  unsubscribe(): Promise<void>;
}

/** The `params` of an eth_subscription notification. */
export interface SubscriptionNotice {
  subscription?: unknown;
  result?: unknown;
}

interface Sub {
  id: string;
  params: unknown[];
  onNotification: (result: unknown) => void;
  upstreamId: string | null;
}

type Call = (method: string, params: unknown[]) => Promise<JsonRpcResponse>;

export class UpstreamSubscriptions {
  readonly #call: Call;
  readonly #connected: () => boolean;
  readonly #log: Logger;
  #subs = new Map<string, Sub>();
  #byUpstreamId = new Map<string, Sub>();
  #seq = 0;

  constructor(call: Call, connected: () => boolean, log: Logger) {
    this.#call = call;
    this.#connected = connected;
    this.#log = log;
  }

  get size(): number {
    return this.#subs.size;
  }

  /** One upstream eth_subscribe; notifications go to `onNotification` until unsubscribe(). */
  async subscribe(params: unknown[], onNotification: (result: unknown) => void): Promise<Subscription> {
    const sub: Sub = { id: `s${++this.#seq}`, params, onNotification, upstreamId: null };
    await this.#establish(sub);
    this.#subs.set(sub.id, sub);
    return {
      id: sub.id,
      unsubscribe: async () => {
        if (!this.#subs.delete(sub.id)) return;
        if (!sub.upstreamId) return;
        this.#byUpstreamId.delete(sub.upstreamId);
        // Disconnected: the node dropped it already, and it is not re-established.
        if (this.#connected()) await this.#call("eth_unsubscribe", [sub.upstreamId]).catch(() => {});
      },
    };
  }

  /** After a reconnect: every subscription again, under the same caller-visible ids. */
  reestablish(): void {
    for (const sub of this.#subs.values()) this.#again(sub, 0);
  }

  /** One re-subscription; a failure is retried while connected (a later reconnect starts over). */
  #again(sub: Sub, attempt: number): void {
    this.#establish(sub).catch((e) => {
      this.#log.warn("re-subscribing failed; retrying", { attempt, error: e instanceof Error ? e.message : String(e) });
      if (!this.#subs.has(sub.id) || !this.#connected()) return;
      const t = setTimeout(
        () => this.#subs.has(sub.id) && this.#connected() && this.#again(sub, attempt + 1),
        Math.min(2000, 100 * 2 ** attempt),
      );
      (t as { unref?: () => void }).unref?.();
    });
  }

  notify(notice: SubscriptionNotice): void {
    this.#byUpstreamId.get(String(notice.subscription))?.onNotification(notice.result);
  }

  async #establish(sub: Sub): Promise<void> {
    const r = await this.#call("eth_subscribe", sub.params);
    if (r.error) throw RpcFault.fromError(r.error);
    const upstreamId = String(r.result);
    if (sub.upstreamId) this.#byUpstreamId.delete(sub.upstreamId);
    sub.upstreamId = upstreamId;
    this.#byUpstreamId.set(upstreamId, sub);
  }
}
