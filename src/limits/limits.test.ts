// Rates, token buckets and client addresses: the pure parts of the rate limit.
import { describe, expect, test } from "bun:test";
import { clientAddress, inCidr, limitKey, parseCidr, parseIp } from "./client-ip.ts";
import { parseRate, TokenBuckets } from "./rate.ts";

describe("parseRate", () => {
  test("n per second, minute or hour; burst defaults to n", () => {
    expect(parseRate("100/s")).toMatchObject({ perMs: 0.1, burst: 100, text: "100/s, burst 100" });
    expect(parseRate("600/m,burst=50")).toMatchObject({ perMs: 0.01, burst: 50 });
    expect(parseRate(" 36/h , burst = 2 ")).toMatchObject({ perMs: 36 / 3_600_000, burst: 2 });
  });
  test.each(["", "100", "100/d", "0/s", "-1/s", "1/s,burst=0", "1/s,burst", "abc/s", "1e3/s", "1/s;burst=2"])("refuses %p", (raw) => {
    expect(() => parseRate(raw)).toThrow(RangeError);
  });
});

describe("TokenBuckets", () => {
  test("a burst, then the refill rate; partial grants say when the next token comes", () => {
    let now = 0;
    const b = new TokenBuckets(parseRate("10/s,burst=5"), { now: () => now });
    expect(b.take("a", 3)).toEqual({ granted: 3, retryAfterMs: 0 });
    expect(b.take("a", 3)).toEqual({ granted: 2, retryAfterMs: 100 });
    expect(b.take("a", 1)).toEqual({ granted: 0, retryAfterMs: 100 });
    // Another key has its own bucket.
    expect(b.take("b", 5).granted).toBe(5);
    now += 250; // 2.5 tokens
    expect(b.take("a", 5)).toEqual({ granted: 2, retryAfterMs: 50 });
    now += 10_000; // never more than the burst
    expect(b.take("a", 100).granted).toBe(5);
  });

  test("a flood of new keys cannot grow the map past its bound", () => {
    let now = 0;
    const b = new TokenBuckets(parseRate("1/h"), { now: () => now, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) {
      b.take(`k${i}`, 1);
      now++;
    }
    expect(b.size).toBeLessThanOrEqual(100);
  });
});

describe("client addresses", () => {
  test("IPv4, IPv6, IPv4-mapped and bracketed forms; garbage is null", () => {
    expect(parseIp("203.0.113.9")?.toString()).toBe("203.0.113.9");
    expect(parseIp("::ffff:203.0.113.9")?.toString()).toBe("203.0.113.9");
    expect(parseIp("[2001:db8::1]")?.toString()).toBe("2001:db8::1");
    for (const bad of ["", "x", "999.1.1.1", "1.2.3", "2001:db8:::1", "1.2.3.4/8"]) expect(parseIp(bad)).toBeNull();
  });

  test("CIDRs match their own family; a bare address is one host", () => {
    const net = parseCidr("10.0.0.0/8");
    expect(inCidr(parseIp("10.200.1.1")!, net)).toBe(true);
    expect(inCidr(parseIp("11.0.0.1")!, net)).toBe(false);
    expect(inCidr(parseIp("::ffff:10.0.0.1")!, net)).toBe(true);
    expect(inCidr(parseIp("fd00::1")!, net)).toBe(false);
    expect(inCidr(parseIp("fd00::1")!, parseCidr("fd00::/8"))).toBe(true);
    expect(inCidr(parseIp("127.0.0.2")!, parseCidr("127.0.0.1"))).toBe(false);
    for (const bad of ["10.0.0.0/33", "fd00::/129", "nope", "10.0.0.0/x"]) expect(() => parseCidr(bad)).toThrow(RangeError);
  });

  test("an IPv6 client counts by its /64", () => {
    expect(limitKey(parseIp("2001:db8:1:2:aaaa::1")!)).toBe(limitKey(parseIp("2001:db8:1:2:bbbb::9")!));
    expect(limitKey(parseIp("2001:db8:1:2::1")!)).not.toBe(limitKey(parseIp("2001:db8:1:3::1")!));
    expect(limitKey(parseIp("192.0.2.1")!)).toBe("192.0.2.1");
  });

  test("X-Forwarded-For counts only from trusted proxies, right-most untrusted hop first", () => {
    const trusted = [parseCidr("127.0.0.1/32"), parseCidr("10.0.0.0/8")];
    const at = (peer: string, xff: string | null) => clientAddress(peer, xff, trusted)?.toString();
    expect(at("127.0.0.1", "198.51.100.1")).toBe("198.51.100.1");
    // The left part is whatever the client claimed: a spoofed hop before the real one is ignored.
    expect(at("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.1.1")).toBe("198.51.100.1");
    expect(at("203.0.113.5", "198.51.100.1")).toBe("203.0.113.5");
    expect(at("127.0.0.1", "not-an-ip")).toBe("127.0.0.1");
    expect(at("127.0.0.1", null)).toBe("127.0.0.1");
    expect(clientAddress(null, "198.51.100.1", trusted)).toBeNull();
  });
});
