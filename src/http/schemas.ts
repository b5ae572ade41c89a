// Shared OpenAPI schemas: the error body and the standard error responses.
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

export const authResponses = {
  401: err("`PEXD_API_TOKEN` is set and the bearer token is missing or wrong (`unauthorized`)"),
} as const;

export { err as errorResponse };
