// /dashboard in headless Debian Chromium (playwright-core) against the real Bun entry: the page loads
// with no console errors and no third-party request, draws the server's recent history before the
// live points (seamlessly), says why an empty panel is empty, and a value follows requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { ROOT, startPexd, type Pexd } from "./helpers/pexd.ts";
import { need, skipping } from "./helpers/requirements.ts";

const CHROMIUM = "/usr/bin/chromium";
// Missing Chromium fails these tests with the command that installs it; PEXD_TEST_SKIP=chromium skips them.
const haveChromium = !skipping("chromium");
const SCREENSHOT = join(ROOT, "test/artifacts/dashboard.png");

let p: Pexd | undefined;
let ctx: BrowserContext | undefined;
const profile = mkdtempSync(join(tmpdir(), "pexd-chromium-"));

beforeAll(async () => {
  if (!haveChromium) return;
  need("chromium");
  p = await startPexd();
  // launchPersistentContext is playwright's way of giving Chromium a fresh --user-data-dir.
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1400, height: 1000 },
    timeout: 60_000,
  });
}, 90_000);

afterAll(async () => {
  await ctx?.close().catch(() => {});
  await p?.dispose();
  rmSync(profile, { recursive: true, force: true });
});

/** Per panel: its note (when shown), whether its chart is hidden, and the painted pixels of its canvas. */
type PanelView = { id: string; note: string | null; hidden: boolean; w: number; n: number };
const panels = (page: import("playwright-core").Page) =>
  page.$$eval("section.panel", (sections) =>
    sections.map((s) => {
      const cv = s.querySelector("canvas") as HTMLCanvasElement;
      // Read through a copy: reading the page's own canvas twice makes Chromium warn in the console.
      const copy = document.createElement("canvas");
      copy.width = cv.width;
      copy.height = cv.height;
      const ctx = copy.getContext("2d", { willReadFrequently: true })!;
      ctx.drawImage(cv, 0, 0);
      const data = ctx.getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
      const note = s.querySelector(".note") as HTMLElement;
      const uplot = s.querySelector(".uplot") as HTMLElement;
      return {
        id: s.id.replace("panel-", ""),
        note: note.hidden ? null : note.textContent,
        hidden: getComputedStyle(uplot).visibility === "hidden",
        w: cv.width,
        n,
      };
    }),
  );

describe.skipIf(!haveChromium)("dashboard in headless Chromium", () => {
  test("loads cleanly, draws the history then live points, says why a panel is empty, and follows /next", async () => {
    const srv = p!;
    // The sampler runs from process start: some points exist before the page opens.
    const deadline = Date.now() + 30_000;
    let held = 0;
    while (held < 3 && Date.now() < deadline) {
      held = ((await (await fetch(`${srv.url}/dashboard/history`)).json()) as { points: unknown[] }).points.length;
      if (held < 3) await Bun.sleep(100);
    }
    expect(held).toBeGreaterThanOrEqual(3);
    const page = await ctx!.newPage();
    const problems: string[] = [];
    const foreign: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("request", (r) => {
      if (!r.url().startsWith(srv.url) && !r.url().startsWith("data:")) foreign.push(r.url());
    });
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    page.on("requestfailed", (r) => {
      // The endless event stream is cut when the page closes; anything else failing is a fault.
      if (!r.url().endsWith("/dashboard/stream")) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
    });

    const res = await page.goto(`${srv.url}/dashboard`, { waitUntil: "load" });
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toContain("default-src 'self'");
    // The history is drawn first (the stream opens only after it), then two live points follow it.
    await page.waitForFunction(() => Number(document.body.dataset.points ?? 0) >= 2, undefined, { timeout: 30_000 });
    expect(await page.textContent("#status")).toBe("live");
    const seam = await page.evaluate(() => ({ ...document.body.dataset }));
    expect(Number(seam.history)).toBeGreaterThanOrEqual(held);
    // The first live point is newer than the last history point, and none was dropped as a repeat.
    expect(Number(seam.seam)).toBeGreaterThan(Number(seam.historyLast));
    expect(seam.dropped).toBeUndefined();

    // Ten panels. No request but the page's own yet, no Ethereum upstream and no relay port here:
    // those panels say why instead of drawing blank axes; the others paint their charts.
    const views: PanelView[] = await panels(page);
    expect(views.map((v) => v.id)).toEqual(["rps", "latency", "status", "cache", "upstream", "head", "fib", "widgets", "relay", "memory"]);
    expect(Object.fromEntries(views.filter((v) => v.note !== null).map((v) => [v.id, v.note]))).toEqual({
      rps: "no requests yet",
      latency: "no requests yet",
      status: "no requests yet",
      cache: "no upstream configured",
      upstream: "no upstream configured",
      head: "no upstream configured",
      relay: "relay not enabled",
    });
    for (const v of views) {
      expect(v.hidden).toBe(v.note !== null);
      expect(v.w).toBeGreaterThan(100);
      if (v.note === null) expect(v.n).toBeGreaterThan(100);
    }

    // No Ethereum upstream here: its panels say n/a; widgets (and the relay, when its module is
    // wired, or else n/a) show numbers.
    expect(await page.textContent("#value-head")).toBe("n/a");
    expect(await page.textContent("#value-cache")).toBe("n/a");
    expect(await page.textContent("#value-upstream")).toBe("n/a");
    expect(await page.textContent("#value-widgets")).toBe("0");
    expect(["0", "n/a"]).toContain((await page.textContent("#value-relay")) ?? "");

    const before = Number(await page.textContent("#value-fib"));
    expect(before).toBe(0);
    for (let i = 0; i < 3; i++) expect((await fetch(`${srv.url}/next`, { method: "POST" })).status).toBe(200);
    await page.waitForFunction((want) => document.getElementById("value-fib")?.textContent === want, "3", { timeout: 30_000 });
    // Some load so the request-rate and latency charts show a line in the screenshot.
    await Promise.all(Array.from({ length: 200 }, () => fetch(`${srv.url}/current`).then((r) => r.arrayBuffer())));
    await page.waitForFunction(
      () => {
        const v = document.getElementById("value-rps")?.textContent ?? "";
        return v !== "–" && Number(v.replace(/,/g, "")) >= 5;
      },
      undefined,
      { timeout: 30_000 },
    );
    expect(Number(await page.textContent("#value-fib"))).toBe(3);
    // Requests answered: the request panels lost their note and draw.
    const after: PanelView[] = await panels(page);
    for (const v of after.filter((x) => ["rps", "latency", "status"].includes(x.id))) {
      expect(v.note).toBeNull();
      expect(v.hidden).toBe(false);
      expect(v.n).toBeGreaterThan(100);
    }
    expect(await page.evaluate(() => document.body.dataset.dropped)).toBeUndefined();

    mkdirSync(join(ROOT, "test/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    await page.close();

    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
  }, 120_000);
});
