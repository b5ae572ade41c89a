// Shared OpenAPI schemas: the error body, the standard error responses, and the bearer scheme.
import { z } from "@hono/zod-openapi";

export const ErrorBodySchema = z
  .object({
    code: z.string().openapi({ example: "invalid_request" }),
    message: z.string(),
    details: z.string().nullable(),
    hint: z.string().nullable(),
  })
  .openapi("Error");

const err = (description: string) => ({ description, content: { "application/json": { schema: ErrorBodySchema } } });

export const errorResponses = {
  400: err("Malformed JSON or a body that fails validation (`invalid_json`, `invalid_request`)"),
  405: err("Known path, wrong method (`method_not_allowed`, with an `Allow` header)"),
  413: err("Body over 64 KiB (`payload_too_large`)"),
  415: err("Content type is not application/json (`unsupported_media_type`)"),
} as const;

/** The security scheme's name in `components.securitySchemes` (registered by createApp). */
export const BEARER_SCHEME = "bearer";

export const bearerScheme = {
  type: "http",
  scheme: "bearer",
  description:
    "`Authorization: Bearer <PEXD_API_TOKEN>`, required by the mutating routes (/next, /previous, /reset, /rpc/*) only when the server has `PEXD_API_TOKEN` set; without it they are open. Other routes never require it (a valid token only gives the client its own rate-limit bucket).",
} as const;

/** `security` of a mutating route: the bearer token (enforced only when PEXD_API_TOKEN is set). */
export const bearerSecurity = [{ [BEARER_SCHEME]: [] }];

export const authResponses = {
  401: {
    ...err("`PEXD_API_TOKEN` is set and the bearer token is missing or wrong (`unauthorized`, with `WWW-Authenticate: Bearer`)"),
    headers: { "WWW-Authenticate": { description: 'Bearer realm="pexd"', schema: { type: "string" as const } } },
  },
} as const;

/** The Retry-After header of a 429: whole seconds until the next request would be admitted. */
export const retryAfterHeader = {
  "Retry-After": { description: "Seconds to wait before retrying", required: true, schema: { type: "integer" as const, minimum: 1 } },
} as const;

/** Every operation: an unexpected failure. */
export const internalErrorResponse = {
  500: err("Unexpected failure (`internal_error`; `hint` carries the request id to look up in the log)"),
} as const;

/** Every operation the per-client rate limit charges (all but /health, /ready and the JSON-RPC routes), plus the 500. */
export const commonResponses = {
  429: {
    ...err("Over the client's rate limit (`rate_limited`; only when PEXD_RATE_LIMIT is set), with `Retry-After`"),
    headers: retryAfterHeader,
  },
  ...internalErrorResponse,
} as const;

/** Routes whose change is committed to storage: refused writes (docs/security.md). Nothing acknowledged is lost. */
export const storageResponses = {
  503: err("Storage cannot take writes (`storage_unavailable`): the change was not stored; retry later"),
  507: err("The disk is full (`storage_full`): the change was not stored"),
} as const;

export { err as errorResponse };
