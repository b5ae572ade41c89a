// Exact Fibonacci numbers. Fast doubling gives F(n), F(n+1) in O(log n) big multiplications, used
// once at start-up; each later step is one BigInt addition or subtraction.

/** [F(n), F(n+1)] */
export function fibPair(n: number): [bigint, bigint] {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`index must be a non-negative safe integer, got ${n}`);
  let a = 0n; // F(k)
  let b = 1n; // F(k+1)
  for (let bit = 31 - Math.clz32(n >>> 0) + (n > 0xffffffff ? 32 : 0); bit >= 0; bit--) {
    // F(2k) = F(k) * (2F(k+1) - F(k)); F(2k+1) = F(k)^2 + F(k+1)^2
    const c = a * (2n * b - a);
    const d = a * a + b * b;
    if (Math.floor(n / 2 ** bit) % 2 === 1) {
      a = d;
      b = c + d;
    } else {
      a = c;
      b = d;
    }
  }
  return [a, b];
}

export const fib = (n: number): bigint => fibPair(n)[0];
