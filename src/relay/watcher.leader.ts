// The relay watcher among instances that share a database: only the holder of the lease runs it, so
// exactly one instance sends each block. Every second each instance tries to take (or keep) the
// lease; the holder records the last block every target acknowledged, and a new holder — the old
// one died or stopped — resumes after it, so a takeover leaves no gap (late is fine).
import type { Logger } from "../log.ts";
import type { Lease } from "../storage/ports.ts";
import type { BlockWatcher } from "./block.watcher.ts";
import type { RelaySender } from "./relay.sender.ts";

export interface LeadWatcher {
  watcher: BlockWatcher;
  senders: RelaySender[];
}

export class WatcherLeadership {
  readonly #lease: Lease;
  readonly #make: (resumeAfter: bigint | null) => LeadWatcher;
  readonly #log: Logger;
  readonly #everyMs: number;
  #current: LeadWatcher | null = null;
  #saved: bigint | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Times this instance took the watcher over (metrics). */
  acquired = 0;

  constructor(o: { lease: Lease; make: (resumeAfter: bigint | null) => LeadWatcher; log: Logger; everyMs?: number }) {
    this.#lease = o.lease;
    this.#make = o.make;
    this.#log = o.log;
    this.#everyMs = o.everyMs ?? 1000;
  }

  get leading(): boolean {
    return this.#current !== null;
  }

  /** The senders of the watcher this instance runs now (none when another instance leads). */
  get senders(): RelaySender[] {
    return this.#current?.senders ?? [];
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    await this.#resign("stopping");
    await this.#lease.release().catch(() => {});
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#round().finally(() => this.#schedule(this.#everyMs));
    }, ms);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  async #round(): Promise<void> {
    const held = await this.#lease.tryAcquire().catch(() => false);
    if (this.#stopped) return;
    if (held && !this.#current) {
      const after = await this.#lease.progress().catch(() => null);
      this.#saved = after;
      this.#current = this.#make(after);
      this.acquired++;
      this.#log.notice("relay watcher lease taken: this instance sends the blocks", { resume_after: after?.toString() ?? null });
      void this.#current.watcher.start();
    } else if (!held && this.#current) {
      await this.#resign("lease lost: another instance sends the blocks now");
    } else if (held) {
      await this.#saveProgress();
    }
  }

  /** The last block every target acknowledged. */
  #delivered(): bigint | null {
    let min: bigint | null = null;
    for (const s of this.#current?.senders ?? []) {
      if (s.lastDelivered === null) return null;
      if (min === null || s.lastDelivered < min) min = s.lastDelivered;
    }
    return min;
  }

  async #saveProgress(): Promise<void> {
    const d = this.#delivered();
    if (d === null || (this.#saved !== null && d <= this.#saved)) return;
    await this.#lease.saveProgress(d).then(
      () => {
        this.#saved = d;
      },
      (e: unknown) => this.#log.limited("relay_progress", "warn", "relay watcher progress not saved", { error: String(e) }),
    );
  }

  async #resign(why: string): Promise<void> {
    const cur = this.#current;
    if (!cur) return;
    await this.#saveProgress();
    this.#current = null;
    this.#log.notice(`relay watcher stopped: ${why}`);
    await cur.watcher.stop();
  }
}
