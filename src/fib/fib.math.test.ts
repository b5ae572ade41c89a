import { expect, test } from "bun:test";
import { fib, fibPair } from "./fib.math.ts";

test("first values", () => {
  expect(Array.from({ length: 15 }, (_, i) => fib(i))).toEqual([0n, 1n, 1n, 2n, 3n, 5n, 8n, 13n, 21n, 34n, 55n, 89n, 144n, 233n, 377n]);
});

test("fast doubling agrees with iteration up to 2,000 and at large indexes", () => {
  let a = 0n;
  let b = 1n;
  for (let i = 0; i <= 2000; i++) {
    expect(fibPair(i)).toEqual([a, b]);
    [a, b] = [b, a + b];
  }
  expect(fib(100).toString()).toBe("354224848179261915075");
  expect(fib(300).toString()).toBe("222232244629420445529739893461909967206666939096499764990979600");
});

test("F(100000) has 20,899 digits and satisfies Cassini's identity", () => {
  const [a, b] = fibPair(100_000);
  expect(a.toString().length).toBe(20899);
  // F(n-1) F(n+1) - F(n)^2 = (-1)^n
  expect((b - a) * b - a * a).toBe(1n);
});

test("refuses negative and non-integer indexes", () => {
  expect(() => fibPair(-1)).toThrow(RangeError);
  expect(() => fibPair(1.5)).toThrow(RangeError);
});

test("decimal limbs agree with BigInt for in-place add, sub and rendering", () => {
  const { addInto, subInto, toLimbs, limbsToString } = require("./fib.math.ts") as typeof import("./fib.math.ts");
  const addLimbs = (a: number[], b: number[]) => {
    addInto(a, b);
    return a;
  };
  const subLimbs = (a: number[], b: number[]) => {
    subInto(a, b);
    return a;
  };
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  const big = () => {
    let s = String(1 + (rnd() % 9));
    const len = rnd() % 60;
    for (let i = 0; i < len; i++) s += String(rnd() % 10);
    return BigInt(s);
  };
  for (const x of [0n, 1n, 999_999_999n, 1_000_000_000n, 10n ** 27n - 1n]) expect(limbsToString(toLimbs(x))).toBe(x.toString());
  for (let i = 0; i < 500; i++) {
    const [x, y] = [big(), big()];
    const [hi, lo] = x >= y ? [x, y] : [y, x];
    expect(limbsToString(addLimbs(toLimbs(x), toLimbs(y)))).toBe((x + y).toString());
    expect(limbsToString(subLimbs(toLimbs(hi), toLimbs(lo)))).toBe((hi - lo).toString());
  }
  expect(limbsToString(subLimbs(toLimbs(10n ** 18n), toLimbs(1n)))).toBe("999999999999999999");
  expect(() => subLimbs(toLimbs(1n), toLimbs(2n))).toThrow(RangeError);
});
