// Zod schemas of the widgets routes: they validate the bodies and generate the OpenAPI document.
import { z } from "@hono/zod-openapi";

/** The longest serial number (also the database's CHECK). */
export const SN_MAX = 128;
export const Sn = z.string().min(1).max(SN_MAX).openapi({ example: "W-000001", description: "serial number, 1–128 characters" });
const Name = z.string().min(1).max(256).openapi({ example: "gear" });
export const Port = z.enum(["P", "R", "Q"]).openapi({ description: "port type" });

// Unknown fields are ignored (zod strips them); `name` is an alias of `widget_name`.
export const AddWidgetBody = z
  .object({
    widget_sn: Sn,
    widget_name: Name.optional(),
    name: Name.optional().openapi({ description: "alias of widget_name (widget_name wins when both are sent)" }),
    slots: z
      .array(Port)
      .max(3)
      .openapi({ example: ["P", "R", "R"], description: "0–3 port types, in creation order; required" }),
  })
  .refine((b) => b.widget_name !== undefined || b.name !== undefined, {
    message: "widget_name (or name) is required",
    path: ["widget_name"],
  })
  .openapi("AddWidget");

export const RemoveWidgetBody = z.object({ widget_sn: Sn }).openapi("RemoveWidget");

export const PairBody = z
  .object({ widget1_sn: Sn, widget2_sn: Sn, port: Port })
  .openapi("WidgetPair", { example: { widget1_sn: "W-000001", widget2_sn: "W-000002", port: "P" } });

export const WidgetSchema = z
  .object({
    widget_sn: z.string(),
    widget_name: z.string(),
    slots: z.array(z.object({ port: Port, associated_with: z.string().nullable() })),
  })
  .openapi("Widget");

export const WidgetPageSchema = z
  .object({
    items: z.array(WidgetSchema),
    next: z.string().nullable().openapi({ description: "`after` for the following page; null on the last page" }),
  })
  .openapi("WidgetPage");

export const ListQuery = z.object({
  after: z.string().max(128).optional().openapi({ description: "serial number to start after (exclusive)" }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: "1..1000, default 100" }),
});

export const SnParam = z.object({ sn: Sn.openapi({ param: { name: "sn", in: "path" } }) });
