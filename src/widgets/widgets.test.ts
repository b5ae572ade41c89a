// Route-level rules through app.request() with the memory store: validation, codes, bodies.
import { describe, expect, test } from "bun:test";
import { createApp } from "../app.ts";
import { parseConfig } from "../config.ts";
import { silentLogger } from "../log.ts";
import { MemoryWidgetStore } from "../storage/memory/widget.memory.ts";
import { widgetsModule } from "./widgets.module.ts";

async function setup(env: Record<string, string> = {}) {
  const store = new MemoryWidgetStore();
  const app = createApp({ config: parseConfig(env), log: silentLogger, version: "0.0.0-test", modules: [widgetsModule(store)] });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return { app, store, post };
}

describe("widgets routes", () => {
  test("add_widget answers 204 with no body and no-store; the widget reads back", async () => {
    const { app, post } = await setup();
    const r = await post("/rpc/add_widget", { widget_sn: "a", widget_name: "Alpha", slots: ["P", "R", "R"], extra: 1 });
    expect(r.status).toBe(204);
    expect(await r.text()).toBe("");
    expect(r.headers.get("cache-control")).toBe("no-store");
    const g = await app.request("/widgets/a");
    expect(g.status).toBe(200);
    expect(await g.json()).toEqual({
      widget_sn: "a",
      widget_name: "Alpha",
      slots: [
        { port: "P", associated_with: null },
        { port: "R", associated_with: null },
        { port: "R", associated_with: null },
      ],
    });
  });

  test("name is an alias of widget_name", async () => {
    const { app, post } = await setup();
    expect((await post("/rpc/add_widget", { widget_sn: "b", name: "Beta", slots: [] })).status).toBe(204);
    expect(await (await app.request("/widgets/b")).json()).toEqual({ widget_sn: "b", widget_name: "Beta", slots: [] });
  });

  test("the duplicate body is byte-for-byte the contract's", async () => {
    const { post } = await setup();
    await post("/rpc/add_widget", { widget_sn: "X", widget_name: "x", slots: [] });
    const r = await post("/rpc/add_widget", { widget_sn: "X", widget_name: "y", slots: ["P"] });
    expect(r.status).toBe(409);
    expect(await r.text()).toBe(
      '{"code":"23505","details":"Key (serial_number)=(X) already exists.","hint":null,"message":"duplicate key value violates unique constraint \\"widgets_serial_number_key\\""}',
    );
  });

  const bad: [string, unknown][] = [
    ["missing slots", { widget_sn: "a", widget_name: "n" }],
    ["missing name", { widget_sn: "a", slots: [] }],
    ["empty sn", { widget_sn: "", widget_name: "n", slots: [] }],
    ["empty name", { widget_sn: "a", widget_name: "", slots: [] }],
    ["sn too long", { widget_sn: "s".repeat(129), widget_name: "n", slots: [] }],
    ["name too long", { widget_sn: "a", widget_name: "n".repeat(257), slots: [] }],
    ["four slots", { widget_sn: "a", widget_name: "n", slots: ["P", "P", "P", "P"] }],
    ["unknown port", { widget_sn: "a", widget_name: "n", slots: ["X"] }],
    ["number sn", { widget_sn: 5, widget_name: "n", slots: [] }],
    ["slots not array", { widget_sn: "a", widget_name: "n", slots: "P" }],
  ];
  for (const [what, body] of bad) {
    test(`add_widget refuses ${what} with 400 and stores nothing`, async () => {
      const { post, store } = await setup();
      const r = await post("/rpc/add_widget", body);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { code: string }).code).toBe("invalid_request");
      expect(store.count()).toBe(0);
    });
  }

  test("limits are inclusive: 128-char sn, 256-char name, 3 slots", async () => {
    const { post, store } = await setup();
    expect(
      (await post("/rpc/add_widget", { widget_sn: "s".repeat(128), widget_name: "n".repeat(256), slots: ["Q", "Q", "Q"] })).status,
    ).toBe(204);
    expect(store.count()).toBe(1);
  });

  test("associate/remove codes: self_association 400, widget_not_found 404, already_associated and no_free_slot 409, association_not_found 404", async () => {
    const { app, post } = await setup();
    for (const [sn, slots] of [
      ["a", ["P"]],
      ["b", ["P", "Q"]],
      ["c", ["P"]],
    ] as const)
      await post("/rpc/add_widget", { widget_sn: sn, widget_name: sn, slots });
    const code = async (path: string, body: unknown) => {
      const r = await post(path, body);
      return [r.status, r.status === 204 ? null : ((await r.json()) as { code: string }).code];
    };
    expect(await code("/rpc/associate_widgets", { widget1_sn: "a", widget2_sn: "a", port: "P" })).toEqual([400, "self_association"]);
    expect(await code("/rpc/associate_widgets", { widget1_sn: "a", widget2_sn: "b", port: "X" })).toEqual([400, "invalid_request"]);
    expect(await code("/rpc/associate_widgets", { widget1_sn: "a", widget2_sn: "zz", port: "P" })).toEqual([404, "widget_not_found"]);
    expect(await code("/rpc/associate_widgets", { widget1_sn: "a", widget2_sn: "b", port: "P" })).toEqual([204, null]);
    expect(await code("/rpc/associate_widgets", { widget1_sn: "b", widget2_sn: "a", port: "P" })).toEqual([409, "already_associated"]);
    expect(await code("/rpc/associate_widgets", { widget1_sn: "c", widget2_sn: "a", port: "P" })).toEqual([409, "no_free_slot"]);
    expect(await code("/rpc/associate_widgets", { widget1_sn: "c", widget2_sn: "b", port: "Q" })).toEqual([409, "no_free_slot"]);
    expect(await code("/rpc/remove_association", { widget1_sn: "a", widget2_sn: "c", port: "P" })).toEqual([404, "association_not_found"]);
    expect(await code("/rpc/remove_association", { widget1_sn: "b", widget2_sn: "a", port: "P" })).toEqual([204, null]);
    expect(await code("/rpc/remove_widget", { widget_sn: "zz" })).toEqual([404, "widget_not_found"]);
    expect(await code("/rpc/remove_widget", { widget_sn: "a" })).toEqual([204, null]);
    expect((await app.request("/widgets/a")).status).toBe(404);
    expect(((await (await app.request("/widgets/a")).json()) as { code: string }).code).toBe("widget_not_found");
  });

  test("GET /widgets/{sn}: a 128-character serial number is looked up, a 129-character one is the validator's 400", async () => {
    const { app, post } = await setup();
    const sn = "s".repeat(128);
    expect((await post("/rpc/add_widget", { widget_sn: sn, widget_name: "n", slots: ["Q"] })).status).toBe(204);
    const ok = await app.request(`/widgets/${sn}`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ widget_sn: sn, widget_name: "n", slots: [{ port: "Q", associated_with: null }] });
    const r = await app.request(`/widgets/${sn}x`);
    expect(r.status).toBe(400);
    const body = (await r.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_request");
    expect(body.message).toContain("sn");
    // The same answer as the validator gives any other over-long field.
    const viaBody = (await (await post("/rpc/remove_widget", { widget_sn: `${sn}x` })).json()) as { details: string };
    expect(((await (await app.request(`/widgets/${sn}x`)).json()) as { details: string }).details).toBe(
      viaBody.details.replace("widget_sn", "sn"),
    );
    expect((await app.request(`/widgets/${sn}x`, { method: "HEAD" })).status).toBe(400);
  });

  test("415 without JSON content type, 400 on malformed JSON", async () => {
    const { app, post } = await setup();
    const r = await app.request("/rpc/add_widget", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" });
    expect(r.status).toBe(415);
    expect((await post("/rpc/add_widget", "{not json")).status).toBe(400);
  });

  test("with PEXD_API_TOKEN the rpc routes need the bearer token; reads stay open", async () => {
    const { app, post } = await setup({ PEXD_API_TOKEN: "s3cret-token-value" });
    const body = { widget_sn: "a", widget_name: "A", slots: [] };
    const r = await post("/rpc/add_widget", body);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { code: string }).code).toBe("unauthorized");
    expect((await post("/rpc/add_widget", body, { authorization: "Bearer s3cret-token-value" })).status).toBe(204);
    expect((await app.request("/widgets/a")).status).toBe(200);
  });

  test("GET /widgets pages with limit (default 100, 1..1000) and next", async () => {
    const { app, post } = await setup();
    for (let i = 0; i < 105; i++)
      await post("/rpc/add_widget", { widget_sn: `w${String(i).padStart(3, "0")}`, widget_name: "n", slots: [] });
    const p1 = (await (await app.request("/widgets")).json()) as { items: { widget_sn: string }[]; next: string | null };
    expect(p1.items.length).toBe(100);
    expect(p1.next).toBe("w099");
    const p2 = (await (await app.request(`/widgets?after=${p1.next}&limit=1000`)).json()) as {
      items: { widget_sn: string }[];
      next: string | null;
    };
    expect(p2.items.map((w) => w.widget_sn)).toEqual(["w100", "w101", "w102", "w103", "w104"]);
    expect(p2.next).toBeNull();
    for (const q of ["limit=0", "limit=1001", "limit=abc"]) expect((await app.request(`/widgets?${q}`)).status).toBe(400);
  });

  test("the module publishes the pexd_widgets gauge from the in-memory count", async () => {
    const store = new MemoryWidgetStore();
    const m = widgetsModule(store);
    await store.add({ sn: "a", name: "A", slots: [] });
    await store.add({ sn: "b", name: "B", slots: [] });
    await store.remove("a");
    expect(m.metrics!()).toEqual([{ name: "pexd_widgets", help: "Current number of widgets.", type: "gauge", samples: [{ value: 1 }] }]);
  });

  test("the OpenAPI document lists the routes and the error codes", async () => {
    const { app } = await setup();
    const doc = JSON.stringify(await (await app.request("/openapi.json")).json());
    for (const s of [
      "/rpc/add_widget",
      "/rpc/remove_widget",
      "/rpc/associate_widgets",
      "/rpc/remove_association",
      "/widgets/{sn}",
      "23505",
      "no_free_slot",
      "already_associated",
      "association_not_found",
      "self_association",
      "widget_not_found",
    ]) {
      expect(doc).toContain(s);
    }
  });
});
