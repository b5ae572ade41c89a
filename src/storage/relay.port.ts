// The relay storage port (docs/relay.md): recording a frame decides first-wins atomically and updates
// the sender's stats; reads serve the stats API. Resolving means committed.

export type FrameOutcome = "stored" | "duplicate" | "rejected";

export interface RelayFrame {
  /** Sender IP address (stats key). */
  address: string;
  /** Payload bytes. */
  bytes: number;
  /** Receive time, ISO 8601. */
  at: string;
  /** Absent when the document has no valid block-number meta tag (counted as rejected). */
  block?: { number: number; hash: string | null; html: Uint8Array };
}

export interface RelayTotals {
  blocks: number;
  frames: number;
  duplicates: number;
  rejected: number;
  bytes: number;
  clients: number;
}

export interface RelayClientStats {
  address: string;
  frames: number;
  bytes: number;
  duplicates: number;
  rejected: number;
  first_seen: string;
  last_seen: string;
}

export interface RelayBlockInfo {
  number: number;
  hash: string | null;
  bytes: number;
  received_at: string;
  from: string;
}

export interface RelayStore {
  /** Stores the block if its number is new (first copy wins) and counts the frame for its sender. */
  record(frame: RelayFrame): Promise<FrameOutcome>;
  /**
   * record() for many frames at once (the relay server hands over what one event-loop turn read, from
   * every connection): decided in order, one outcome per frame, resolved once all are committed.
   * Rejected when any of them could not be recorded; the others may still be (an adapter that
   * isolates a bad frame keeps them), so a sender that retries reads `duplicate`.
   */
  recordMany(frames: readonly RelayFrame[]): Promise<FrameOutcome[]>;
  totals(): Promise<RelayTotals>;
  /** Every client, by address. */
  clients(): Promise<RelayClientStats[]>;
  /** The newest `limit` blocks, newest (highest number) first. */
  blocks(limit: number): Promise<RelayBlockInfo[]>;
  /** The stored document, or null. */
  document(number: number): Promise<Uint8Array | null>;
  close(): Promise<void>;
}
