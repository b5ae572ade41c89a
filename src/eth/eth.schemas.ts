// Zod schemas of the gateway routes (validation and the OpenAPI document): block selectors,
// indexes, the REST bodies, and the documented shape of JSON-RPC messages.
import { z } from "@hono/zod-openapi";

export const BLOCK_TAGS = ["latest", "earliest", "pending", "safe", "finalized"] as const;

const MAX_U64 = 2n ** 64n - 1n;
const QUANTITY = /^(?:\d{1,20}|0x[0-9a-fA-F]{1,16})$/;
// Guarded by the pattern itself: zod runs refinements even after a failed regex check.
const isU64 = (s: string) => QUANTITY.test(s) && BigInt(s) <= MAX_U64;

/** A non-negative quantity as integer, decimal string or 0x-hex (up to 2^64−1). */
const Quantity = z.union([
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  z.string().refine(isU64, "must be a non-negative integer, a decimal string or a 0x-hex quantity below 2^64"),
]);

export const BlockSelectorSchema = z.union([z.enum(BLOCK_TAGS), Quantity]).openapi("BlockSelector", {
  description: "A block tag, a non-negative integer, a decimal string or a 0x-hex quantity",
  example: "latest",
});

export const IndexSchema = Quantity.openapi("TxIndex", {
  description: "A non-negative integer, decimal string or 0x-hex quantity",
  example: 0,
});

export type BlockSelector = z.infer<typeof BlockSelectorSchema>;

/** Canonical JSON-RPC form: tags unchanged, numbers as minimal 0x-hex quantities. */
export function toQuantity(v: string | number): string {
  if (typeof v === "string" && (BLOCK_TAGS as readonly string[]).includes(v)) return v;
  return `0x${BigInt(v).toString(16)}`;
}

export const BlockByNumberBodySchema = z
  .object({
    block: BlockSelectorSchema,
    txdetails: z.boolean().default(false).openapi({ description: "full transaction objects instead of hashes" }),
  })
  .openapi("BlockByNumberBody");

export const TxByBlockAndIndexBodySchema = z
  .object({
    block: BlockSelectorSchema,
    index: IndexSchema,
  })
  .openapi("TxByBlockAndIndexBody");

export const JsonRpcErrorSchema = z
  .object({ code: z.number().int(), message: z.string(), data: z.unknown().optional() })
  .openapi("JsonRpcError");

export const JsonRpcResponseSchema = z
  .object({
    jsonrpc: z.literal("2.0"),
    id: z.union([z.string(), z.number(), z.null()]),
    result: z.unknown().optional(),
    error: JsonRpcErrorSchema.optional(),
  })
  .openapi("JsonRpcResponse", { example: { jsonrpc: "2.0", id: 1, result: "0x1b4" } });

const JsonRpcRequestSchema = z
  .looseObject({
    // Typed loosely on purpose: a wrong member is a JSON-RPC -32600 answer, decided by the route.
    jsonrpc: z.unknown().optional().openapi({ description: '"2.0"', example: "2.0" }),
    id: z.unknown().optional().openapi({ description: "string, number or null; absent for a notification", example: 1 }),
    method: z.unknown().optional().openapi({ description: "eth_*, net_* or web3_*", example: "eth_blockNumber" }),
    params: z.unknown().optional().openapi({ description: "array or object", example: [] }),
  })
  .openapi("JsonRpcRequest", { example: { jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] } });

/**
 * Accepts any object or array: JSON-RPC validation of each message is done by the route so that a
 * malformed message gets its JSON-RPC error (-32600), not a 400.
 */
export const JsonRpcBodySchema = z
  .union([
    JsonRpcRequestSchema,
    z.array(z.unknown()).openapi({ description: "a batch of requests (at most PEXD_ETH_MAX_BATCH, default 1000)" }),
  ])
  .openapi("JsonRpcBody");
