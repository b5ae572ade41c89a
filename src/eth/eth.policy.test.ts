// Cache classes and cache keys: pure functions, no upstream needed.
import { describe, expect, test } from "bun:test";
import { cacheKey, classify } from "./eth.policy.ts";

describe("eth policy", () => {
  test("classifies by method and block selector", () => {
    expect(classify("eth_chainId", [])).toEqual({ kind: "forever" });
    expect(classify("eth_blockNumber", [])).toEqual({ kind: "head" });
    expect(classify("eth_getBlockByNumber", ["latest", false])).toEqual({ kind: "head" });
    expect(classify("eth_getBlockByNumber", ["finalized", false])).toEqual({ kind: "head" });
    expect(classify("eth_getBlockByNumber", ["pending", false])).toEqual({ kind: "never" });
    expect(classify("eth_getBlockByNumber", ["0x10", false])).toEqual({ kind: "block", number: 16n });
    expect(classify("eth_getBalance", ["0xabc", { blockHash: `0x${"1".repeat(64)}` }])).toEqual({ kind: "hash" });
    expect(classify("eth_getTransactionCount", ["0xabc", "pending"])).toEqual({ kind: "never" });
    expect(classify("eth_getTransactionReceipt", ["0x1"])).toEqual({ kind: "tx" });
    expect(classify("eth_getLogs", [{ fromBlock: "0x1", toBlock: "0x5" }])).toEqual({ kind: "block", number: 5n });
    expect(classify("eth_getLogs", [{ fromBlock: "0x1" }])).toEqual({ kind: "head" });
    expect(classify("eth_sendRawTransaction", ["0x00"])).toEqual({ kind: "write" });
    expect(classify("eth_getFilterChanges", ["0x1"])).toEqual({ kind: "never" });
    expect(cacheKey("eth_getBalance", ["0xABCdef", "latest"])).toBe(cacheKey("eth_getBalance", ["0xabcdef", "latest"]));
    expect(cacheKey("eth_call", [{ to: "0x1", data: "0x2" }])).toBe(cacheKey("eth_call", [{ data: "0x2", to: "0x1" }]));
  });
});
