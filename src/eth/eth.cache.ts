// The response cache: serialized results in an LRU bounded by bytes, with head-dependent entries
// tracked apart so a new head drops them at once.

export interface CacheEntry {
  /** The result, serialized once (answers are built by concatenation, never re-stringified). */
  readonly raw: string;
  readonly bytes: number;
  /** Absolute ms; Infinity for immutable entries. */
  readonly expiresAt: number;
  readonly headDependent: boolean;
}

/** Fixed per-entry overhead counted against the bound (Map slot, entry object, strings' headers). */
const ENTRY_OVERHEAD = 64;

export class ResponseCache {
  // A Map iterates in insertion order: re-inserting on a hit makes the first key the least recent.
  #map = new Map<string, CacheEntry>();
  #headKeys = new Set<string>();
  #bytes = 0;
  evictions = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#map.size;
  }

  get(key: string, now: number): CacheEntry | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.#delete(key, e);
      return undefined;
    }
    this.#map.delete(key);
    this.#map.set(key, e);
    return e;
  }

  set(key: string, raw: string, expiresAt: number, headDependent: boolean): boolean {
    // Results are JSON (ASCII but for rare escaped strings): length is the byte count.
    const bytes = raw.length + key.length + ENTRY_OVERHEAD;
    if (bytes > this.maxBytes) return false;
    const old = this.#map.get(key);
    if (old) this.#delete(key, old);
    this.#map.set(key, { raw, bytes, expiresAt, headDependent });
    this.#bytes += bytes;
    if (headDependent) this.#headKeys.add(key);
    while (this.#bytes > this.maxBytes) {
      const first = this.#map.entries().next();
      if (first.done) break;
      this.#delete(first.value[0], first.value[1]);
      this.evictions++;
    }
    return true;
  }

  /** Drops every head-dependent entry (a new head makes them stale); returns how many. */
  dropHeadDependent(): number {
    const n = this.#headKeys.size;
    for (const key of this.#headKeys) {
      const e = this.#map.get(key);
      if (e) {
        this.#map.delete(key);
        this.#bytes -= e.bytes;
      }
    }
    this.#headKeys.clear();
    return n;
  }

  clear(): void {
    this.#map.clear();
    this.#headKeys.clear();
    this.#bytes = 0;
  }

  #delete(key: string, e: CacheEntry): void {
    this.#map.delete(key);
    this.#bytes -= e.bytes;
    if (e.headDependent) this.#headKeys.delete(key);
  }
}

/**
 * A second-level cache shared by several instances (Redis): result texts by key, each with its own
 * lifetime (null: an immutable answer). Never throws: a failure is a miss.
 */
export interface SharedCache {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number | null): Promise<void>;
}
