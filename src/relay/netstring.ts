// Netstring codec (https://cr.yp.to/proto/netstrings.txt): `<decimal length>:<bytes>,`. The decoder
// is streaming: frames split across TCP reads and several frames in one read both come out whole.

/** docs/relay.md: a payload over 1 MiB closes the connection. */
export const MAX_NETSTRING_BYTES = 1_048_576;

export class NetstringError extends Error {
  override name = "NetstringError" as const;
  constructor(
    readonly reason: "malformed" | "too_large",
    message: string,
  ) {
    super(message);
  }
}

const COLON = 0x3a;
const COMMA = 0x2c;
const ZERO = 0x30;
// Enough digits for any length up to the cap; more is malformed before it can grow a buffer.
const maxDigits = (max: number) => String(max).length;

const enc = new TextEncoder();

/** One frame: `len:payload,` (a string payload is encoded as UTF-8). */
export function encodeNetstring(payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === "string" ? enc.encode(payload) : payload;
  const head = enc.encode(`${body.length}:`);
  const out = new Uint8Array(head.length + body.length + 1);
  out.set(head, 0);
  out.set(body, head.length);
  out[out.length - 1] = COMMA;
  return out;
}

/**
 * Incremental decoder for one connection. push() hands each payload completed by the chunk to
 * `onFrame`, then throws NetstringError on a malformed or oversized frame — frames before the bad one
 * are still delivered. After an error the decoder stays failed. A frame that lies wholly in one chunk
 * comes out as a view of that chunk (no copy: the caller hands over chunks it will not reuse); one
 * split across chunks is gathered into a fresh buffer.
 */
export class NetstringDecoder {
  readonly #max: number;
  readonly #maxDigits: number;
  // Length prefix being read: -1 before the first digit.
  #len = -1;
  #digits = 0;
  // Payload being filled (length #len + 1 for the comma) once the colon was seen.
  #buf: Uint8Array | null = null;
  #fill = 0;
  #failed = false;

  constructor(max = MAX_NETSTRING_BYTES) {
    this.#max = max;
    this.#maxDigits = maxDigits(max);
  }

  /** Bytes held for an incomplete frame (memory accounting). */
  get buffered(): number {
    return this.#buf ? this.#fill : this.#digits;
  }

  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    if (this.#failed) throw new NetstringError("malformed", "decoder already failed");
    let i = 0;
    const n = chunk.length;
    try {
      while (i < n) {
        const buf = this.#buf;
        if (buf) {
          const take = Math.min(buf.length - this.#fill, n - i);
          buf.set(chunk.subarray(i, i + take), this.#fill);
          this.#fill += take;
          i += take;
          if (this.#fill === buf.length) {
            if (buf[buf.length - 1] !== COMMA)
              throw new NetstringError("malformed", `frame of ${buf.length - 1} bytes not terminated by ","`);
            this.#buf = null;
            this.#len = -1;
            this.#digits = 0;
            onFrame(buf.subarray(0, buf.length - 1));
          }
          continue;
        }
        const c = chunk[i++]!;
        if (c >= ZERO && c <= ZERO + 9) {
          // "01:" is not canonical: a leading zero is only allowed as the whole length "0".
          if (this.#len === 0) throw new NetstringError("malformed", "length has a leading zero");
          this.#len = this.#len < 0 ? c - ZERO : this.#len * 10 + (c - ZERO);
          if (++this.#digits > this.#maxDigits || this.#len > this.#max) {
            throw new NetstringError("too_large", `length prefix over ${this.#max} bytes`);
          }
        } else if (c === COLON && this.#len >= 0) {
          const len = this.#len;
          if (n - i > len) {
            // The whole frame is in this chunk.
            if (chunk[i + len] !== COMMA) throw new NetstringError("malformed", `frame of ${len} bytes not terminated by ","`);
            this.#len = -1;
            this.#digits = 0;
            onFrame(chunk.subarray(i, i + len));
            i += len + 1;
            continue;
          }
          this.#buf = new Uint8Array(len + 1);
          this.#fill = 0;
        } else {
          throw new NetstringError(
            "malformed",
            c === COLON ? "empty length prefix" : `unexpected byte 0x${c.toString(16).padStart(2, "0")} in length prefix`,
          );
        }
      }
    } catch (e) {
      this.#failed = true;
      this.#buf = null;
      throw e;
    }
  }

  /** Convenience for tests and one-shot use: the payloads of one chunk. */
  decode(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.push(chunk, (p) => out.push(p));
    return out;
  }

  /** True when no partial frame is pending (a clean end of stream). */
  get idle(): boolean {
    return this.#buf === null && this.#len < 0;
  }
}
