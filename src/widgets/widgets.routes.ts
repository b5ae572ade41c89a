// docs/widgets.md routes: four POST /rpc/* mutations (204 once committed) and the two reads.
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context.ts";
import { requireJson } from "../http/middleware.ts";
import { authResponses, bearerSecurity, commonResponses, errorResponse, errorResponses, storageResponses } from "../http/schemas.ts";
import {
  AddWidgetBody,
  ListQuery,
  PairBody,
  RemoveWidgetBody,
  SN_MAX,
  SnParam,
  WidgetPageSchema,
  WidgetSchema,
} from "./widgets.schemas.ts";
import type { WidgetsService } from "./widgets.service.ts";

const done = { 204: { description: "Committed (PostgREST style: no body)" } };
/** What every /rpc/* mutation may answer besides its own errors. */
const mutation = { ...done, ...errorResponses, ...authResponses, ...commonResponses, ...storageResponses };
const notFound = errorResponse("Unknown widget (`widget_not_found`)");

export function registerWidgetRoutes(app: OpenAPIHono<AppEnv>, svc: WidgetsService, mutating: MiddlewareHandler) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/rpc/add_widget",
      operationId: "addWidget",
      tags: ["widgets"],
      summary: "Create a widget with 0–3 free slots",
      middleware: [mutating, requireJson] as const,
      security: bearerSecurity,
      request: { body: { content: { "application/json": { schema: AddWidgetBody } }, required: true } },
      responses: {
        ...mutation,
        400: errorResponse(
          "Invalid body: missing/empty/over-long fields, unknown port type, more than 3 slots (`invalid_json`, `invalid_request`)",
        ),
        409: errorResponse(
          'Serial number exists: exactly `{"code":"23505","details":"Key (serial_number)=(X) already exists.","hint":null,"message":"duplicate key value violates unique constraint \\"widgets_serial_number_key\\""}`',
        ),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      await svc.add({ sn: b.widget_sn, name: (b.widget_name ?? b.name)!, slots: b.slots });
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/rpc/remove_widget",
      operationId: "removeWidget",
      tags: ["widgets"],
      summary: "Remove a widget; its partners' slots become free",
      middleware: [mutating, requireJson] as const,
      security: bearerSecurity,
      request: { body: { content: { "application/json": { schema: RemoveWidgetBody } }, required: true } },
      responses: { ...mutation, 404: notFound },
    }),
    async (c) => {
      await svc.remove(c.req.valid("json").widget_sn);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/rpc/associate_widgets",
      operationId: "associateWidgets",
      tags: ["widgets"],
      summary: "Associate two widgets on a port type (one free slot of that type on each)",
      middleware: [mutating, requireJson] as const,
      security: bearerSecurity,
      request: { body: { content: { "application/json": { schema: PairBody } }, required: true } },
      responses: {
        ...mutation,
        400: errorResponse(
          "Invalid body or unknown port type (`invalid_json`, `invalid_request`); both serial numbers equal (`self_association`)",
        ),
        404: notFound,
        409: errorResponse(
          "Pair already associated on that port type (`already_associated`), or a widget without a free slot of that type (`no_free_slot`, details: its serial number)",
        ),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      await svc.associate(b.widget1_sn, b.widget2_sn, b.port);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/rpc/remove_association",
      operationId: "removeAssociation",
      tags: ["widgets"],
      summary: "Remove the pair's association on a port type (either order)",
      middleware: [mutating, requireJson] as const,
      security: bearerSecurity,
      request: { body: { content: { "application/json": { schema: PairBody } }, required: true } },
      responses: {
        ...mutation,
        400: errorResponse("Invalid body (`invalid_json`, `invalid_request`); both serial numbers equal (`self_association`)"),
        404: errorResponse("Unknown widget (`widget_not_found`) or no such association (`association_not_found`)"),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      await svc.dissociate(b.widget1_sn, b.widget2_sn, b.port);
      return c.body(null, 204);
    },
  );
  // The hot read. A path segment can break only one rule of SnParam (over 128 characters: an empty
  // one never reaches the route), so this handler, registered first, answers every other segment
  // without the validator middleware (~1 µs of a ~30 µs request at 10M widgets); an over-long one
  // falls through to the documented route below, whose validator gives the usual 400 body.
  app.get("/widgets/:sn", async (c, next) => {
    const sn = c.req.param("sn");
    if (sn.length > SN_MAX) return next();
    return c.json(await svc.get(sn), 200);
  });
  app.openapi(
    createRoute({
      method: "get",
      path: "/widgets/{sn}",
      operationId: "getWidget",
      tags: ["widgets"],
      summary: "One widget with its slots in creation order",
      request: { params: SnParam },
      responses: {
        200: { description: "The widget", content: { "application/json": { schema: WidgetSchema } } },
        400: errorResponses[400],
        404: notFound,
        ...commonResponses,
      },
    }),
    async (c) => c.json(await svc.get(c.req.valid("param").sn), 200),
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/widgets",
      operationId: "listWidgets",
      tags: ["widgets"],
      summary: "Widgets ordered by serial number (keyset pagination)",
      request: { query: ListQuery },
      responses: {
        200: { description: "One page", content: { "application/json": { schema: WidgetPageSchema } } },
        400: errorResponses[400],
        ...commonResponses,
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      return c.json(await svc.list(q.after ?? null, q.limit), 200);
    },
  );
}
