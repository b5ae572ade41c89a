import { describe, expect, test } from "bun:test";
import { encodeNetstring, MAX_NETSTRING_BYTES, NetstringDecoder, NetstringError } from "./netstring.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const bytes = (s: string) => te.encode(s);
const texts = (frames: Uint8Array[]) => frames.map((f) => td.decode(f));

function failure(d: NetstringDecoder, chunk: Uint8Array, got: string[] = []): NetstringError {
  try {
    d.push(chunk, (p) => got.push(td.decode(p)));
  } catch (e) {
    expect(e).toBeInstanceOf(NetstringError);
    return e as NetstringError;
  }
  throw new Error("expected a NetstringError");
}

describe("netstring (examples of cr.yp.to/proto/netstrings.txt)", () => {
  test('"hello world!" is encoded as 12:hello world!,', () => {
    expect(td.decode(encodeNetstring("hello world!"))).toBe("12:hello world!,");
  });
  test("the empty string is encoded as 0:,", () => {
    expect(td.decode(encodeNetstring(""))).toBe("0:,");
  });
  test("both examples decode back", () => {
    expect(texts(new NetstringDecoder().decode(bytes("12:hello world!,")))).toEqual(["hello world!"]);
    expect(texts(new NetstringDecoder().decode(bytes("0:,")))).toEqual([""]);
  });
  test("the length counts bytes, not characters", () => {
    const f = encodeNetstring("é€");
    expect(td.decode(f)).toBe("5:é€,");
    expect(texts(new NetstringDecoder().decode(f))).toEqual(["é€"]);
  });
});

describe("netstring streaming decoder", () => {
  test("a frame split into single bytes comes out once, whole", () => {
    const d = new NetstringDecoder();
    const all = bytes("12:hello world!,");
    const got: string[] = [];
    for (let i = 0; i < all.length; i++) {
      d.push(all.subarray(i, i + 1), (p) => got.push(td.decode(p)));
      if (i < all.length - 1) expect(got).toEqual([]);
    }
    expect(got).toEqual(["hello world!"]);
    expect(d.idle).toBe(true);
  });
  test("several frames coalesced in one chunk, the last one split into the next chunk", () => {
    const d = new NetstringDecoder();
    expect(texts(d.decode(bytes("3:abc,0:,5:hel")))).toEqual(["abc", ""]);
    expect(d.idle).toBe(false);
    expect(d.buffered).toBe(3);
    expect(texts(d.decode(bytes("lo,1:x")))).toEqual(["hello"]);
    expect(texts(d.decode(bytes(",")))).toEqual(["x"]);
  });
  test("a frame wholly in one chunk is a view of it (no copy); one split across chunks is gathered", () => {
    const d = new NetstringDecoder();
    const chunk = bytes("3:abc,2:de");
    const [whole] = d.decode(chunk);
    expect(whole!.buffer).toBe(chunk.buffer);
    expect(td.decode(whole)).toBe("abc");
    const next = bytes(",");
    const [gathered] = d.decode(next);
    expect(td.decode(gathered)).toBe("de");
    expect(gathered!.buffer).not.toBe(chunk.buffer);
    expect(gathered!.buffer).not.toBe(next.buffer);
  });
  test("payloads may contain colons, commas and digits", () => {
    expect(texts(new NetstringDecoder().decode(bytes("7:1:a,2:b,")))).toEqual(["1:a,2:b"]);
  });
  test("a payload of exactly 1 MiB is accepted; 1 MiB + 1 is refused from its length prefix alone", () => {
    const big = new Uint8Array(MAX_NETSTRING_BYTES).fill(0x61);
    const frames = new NetstringDecoder().decode(encodeNetstring(big));
    expect(frames.length).toBe(1);
    expect(frames[0]!.length).toBe(MAX_NETSTRING_BYTES);
    const e = failure(new NetstringDecoder(), bytes(`${MAX_NETSTRING_BYTES + 1}:`));
    expect(e.reason).toBe("too_large");
    expect(failure(new NetstringDecoder(), bytes("99999999999999999999")).reason).toBe("too_large");
  });
  test.each([
    ["missing comma", "3:abcX"],
    ["non-digit in the length", "1a:x,"],
    ["empty length", ":abc,"],
    ["leading zero", "01:a,"],
    ["text instead of a netstring", "GET / HTTP/1.1\r\n"],
    ["negative length", "-1:,"],
  ])("malformed: %s", (_name, input) => {
    expect(failure(new NetstringDecoder(), bytes(input)).reason).toBe("malformed");
  });
  test("frames before a malformed one are still delivered; the decoder then stays failed", () => {
    const d = new NetstringDecoder();
    const got: string[] = [];
    failure(d, bytes("2:ok,2:xyz"), got);
    expect(got).toEqual(["ok"]);
    expect(() => d.decode(bytes("0:,"))).toThrow(NetstringError);
  });
});
