// The block document: a template (block.template.ts) filled with HTML-escaped
// block fields, and the reverse step the server needs — reading the block-number/hash meta tags.

/** The fields of an eth_getBlockByNumber(…, false) result the document shows. */
export interface BlockSummary {
  number: bigint;
  hash: string;
  parentHash: string;
  /** Seconds since the epoch. */
  timestamp: bigint;
  transactions: number;
  gasUsed: bigint;
  miner: string;
}

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

const hexBig = (v: unknown, field: string): bigint => {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]+$/.test(v)) throw new TypeError(`block.${field} is not a hex quantity`);
  return BigInt(v);
};
const str = (v: unknown, field: string): string => {
  if (typeof v !== "string") throw new TypeError(`block.${field} is not a string`);
  return v;
};

/** Validates the upstream's block object (JSON-RPC result) into the fields the template needs. */
export function parseBlock(raw: unknown): BlockSummary {
  if (!raw || typeof raw !== "object") throw new TypeError("block is not an object");
  const b = raw as Record<string, unknown>;
  return {
    number: hexBig(b.number, "number"),
    hash: str(b.hash, "hash"),
    parentHash: str(b.parentHash, "parentHash"),
    timestamp: hexBig(b.timestamp, "timestamp"),
    transactions: Array.isArray(b.transactions) ? b.transactions.length : 0,
    gasUsed: hexBig(b.gasUsed, "gasUsed"),
    miner: str(b.miner ?? "", "miner"),
  };
}

/** A compiled template: literal parts and `{{name}}` slots, split once. */
export class BlockTemplate {
  readonly #parts: string[];
  readonly #slots: string[];
  static readonly FIELDS = ["number", "hash", "parentHash", "timestamp", "isoTime", "transactions", "gasUsed", "miner"] as const;

  constructor(source: string) {
    const parts: string[] = [];
    const slots: string[] = [];
    let last = 0;
    for (const m of source.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
      const name = m[1]!;
      if (!(BlockTemplate.FIELDS as readonly string[]).includes(name)) throw new Error(`block template: unknown field {{${name}}}`);
      parts.push(source.slice(last, m.index));
      slots.push(name);
      last = m.index + m[0].length;
    }
    parts.push(source.slice(last));
    if (!slots.includes("number") || !slots.includes("hash"))
      throw new Error("block template must use {{number}} and {{hash}} (the meta tags)");
    this.#parts = parts;
    this.#slots = slots;
  }

  render(b: BlockSummary): string {
    const ts = Number(b.timestamp);
    const values: Record<string, string> = {
      number: b.number.toString(),
      hash: b.hash,
      parentHash: b.parentHash,
      timestamp: b.timestamp.toString(),
      isoTime: Number.isFinite(ts * 1000) && Math.abs(ts) < 8.64e12 ? new Date(ts * 1000).toISOString() : "",
      transactions: String(b.transactions),
      gasUsed: b.gasUsed.toString(),
      miner: b.miner,
    };
    let out = this.#parts[0]!;
    for (let i = 0; i < this.#slots.length; i++) out += escapeHtml(values[this.#slots[i]!]!) + this.#parts[i + 1]!;
    return out;
  }
}

export interface BlockMeta {
  number: number;
  hash: string | null;
}

// The tags sit in <head>, so only the start of a document is decoded and searched: its first 512
// bytes, then (if a tag is not there) its first 4 KiB. Both give the same answer: a tag found in the
// shorter prefix is also the first one in the longer (a match holds no "<" past its first character,
// so no earlier match can span the cut), and an incomplete UTF-8 sequence at a cut only becomes a
// U+FFFD at the prefix's very end, where no match can end (one ends with its closing quote).
const FIRST_BYTES = 512;
const HEAD_BYTES = 4096;
const dec = new TextDecoder("utf-8", { fatal: false });
const metaRe = (name: string) => new RegExp(`<meta\\s+name\\s*=\\s*["']${name}["']\\s+content\\s*=\\s*["']([^"'<>]*)["']`, "i");
const NUMBER_RE = metaRe("block-number");
const HASH_RE = metaRe("block-hash");
const head = (payload: Uint8Array, bytes: number) => dec.decode(payload.length > bytes ? payload.subarray(0, bytes) : payload);

/** Reads the block-number (decimal) and block-hash meta tags; null when the number tag is absent or invalid. */
export function readBlockMeta(payload: Uint8Array): BlockMeta | null {
  let text = head(payload, FIRST_BYTES);
  let whole = payload.length <= FIRST_BYTES;
  let n = NUMBER_RE.exec(text);
  if (!n && !whole) {
    text = head(payload, HEAD_BYTES);
    whole = true;
    n = NUMBER_RE.exec(text);
  }
  if (!n || !/^\d{1,16}$/.test(n[1]!)) return null;
  const number = Number(n[1]);
  if (!Number.isSafeInteger(number)) return null;
  let h = HASH_RE.exec(text);
  if (!h && !whole) h = HASH_RE.exec(head(payload, HEAD_BYTES));
  return { number, hash: h && /^0x[0-9a-fA-F]{1,128}$/.test(h[1]!) ? h[1]! : null };
}
