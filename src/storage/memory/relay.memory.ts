// In-memory adapter of the relay port (tests, edge runtimes): same rules as SQLite, nothing durable.
import type { FrameOutcome, RelayBlockInfo, RelayClientStats, RelayFrame, RelayStore, RelayTotals } from "../relay.port.ts";

export class MemoryRelayStore implements RelayStore {
  #blocks = new Map<number, RelayBlockInfo & { html: Uint8Array }>();
  #clients = new Map<string, RelayClientStats>();

  async record(f: RelayFrame): Promise<FrameOutcome> {
    let outcome: FrameOutcome = "rejected";
    if (f.block) {
      if (this.#blocks.has(f.block.number)) outcome = "duplicate";
      else {
        outcome = "stored";
        this.#blocks.set(f.block.number, {
          number: f.block.number,
          hash: f.block.hash,
          bytes: f.bytes,
          received_at: f.at,
          from: f.address,
          html: f.block.html.slice(),
        });
      }
    }
    const c = this.#clients.get(f.address) ?? {
      address: f.address,
      frames: 0,
      bytes: 0,
      duplicates: 0,
      rejected: 0,
      first_seen: f.at,
      last_seen: f.at,
    };
    c.frames++;
    c.bytes += f.bytes;
    if (outcome === "duplicate") c.duplicates++;
    if (outcome === "rejected") c.rejected++;
    c.last_seen = f.at;
    this.#clients.set(f.address, c);
    return outcome;
  }

  // Through record(), so that a subclass wrapping record() (tests) sees every frame.
  recordMany(frames: readonly RelayFrame[]): Promise<FrameOutcome[]> {
    return Promise.all(frames.map((f) => this.record(f)));
  }

  async totals(): Promise<RelayTotals> {
    const t: RelayTotals = { blocks: this.#blocks.size, frames: 0, duplicates: 0, rejected: 0, bytes: 0, clients: this.#clients.size };
    for (const c of this.#clients.values()) {
      t.frames += c.frames;
      t.duplicates += c.duplicates;
      t.rejected += c.rejected;
      t.bytes += c.bytes;
    }
    return t;
  }

  async clients(): Promise<RelayClientStats[]> {
    return [...this.#clients.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)).map((c) => ({ ...c }));
  }

  async blocks(limit: number): Promise<RelayBlockInfo[]> {
    return [...this.#blocks.keys()]
      .sort((a, b) => b - a)
      .slice(0, limit)
      .map((n) => {
        const { html: _html, ...info } = this.#blocks.get(n)!;
        return info;
      });
  }

  async document(number: number): Promise<Uint8Array | null> {
    return this.#blocks.get(number)?.html.slice() ?? null;
  }

  async close(): Promise<void> {}
}
