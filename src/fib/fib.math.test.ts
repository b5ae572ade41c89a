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
