// Cache classes and cache keys: pure functions, no upstream needed.
import { describe, expect, test } from "bun:test";
import { DEFAULT_METHODS_DENY } from "../config.ts";
import { cacheKey, classify, MethodPolicy } from "./eth.policy.ts";

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

describe("MethodPolicy", () => {
  test("the default deny list refuses the node's signing methods; namespaces otherwise", () => {
    const p = new MethodPolicy({ deny: DEFAULT_METHODS_DENY.split(",") });
    for (const m of ["eth_sendTransaction", "eth_sign", "eth_signTransaction", "eth_signTypedData", "eth_signTypedData_v4"])
      expect(p.refusal(m)).toContain("PEXD_ETH_METHODS_DENY");
    for (const m of ["eth_sendRawTransaction", "eth_call", "net_version", "web3_clientVersion"]) expect(p.refusal(m)).toBeNull();
    for (const m of ["admin_peers", "debug_traceTransaction", "personal_sign", "miner_start", "eth"])
      expect(p.refusal(m)).toContain("only eth_*");
  });

  test("an allow list replaces the namespaces; deny still wins; globs match whole names", () => {
    const p = new MethodPolicy({ deny: ["eth_get*Proof"], allow: ["eth_get*", "debug_traceTransaction"] });
    expect(p.refusal("eth_getBalance")).toBeNull();
    expect(p.refusal("debug_traceTransaction")).toBeNull();
    expect(p.refusal("eth_getProof")).toContain("PEXD_ETH_METHODS_DENY");
    expect(p.refusal("eth_blockNumber")).toContain("PEXD_ETH_METHODS_ALLOW");
    expect(p.refusal("xeth_getBalance")).toContain("PEXD_ETH_METHODS_ALLOW");
  });

  test("an empty deny list refuses nothing beyond the namespaces", () => {
    const p = new MethodPolicy({ deny: [] });
    expect(p.refusal("eth_sendTransaction")).toBeNull();
  });
});
