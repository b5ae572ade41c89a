// /dashboard in headless Debian Chromium (playwright-core) against the real Bun entry: the page loads
// with no console errors and no third-party request, the charts draw, and a value follows requests.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { ROOT, startPexd, type Pexd } from "./helpers/pexd.ts";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`dashboard test skipped: ${CHROMIUM} missing (apt-get install -y chromium)`);
const SCREENSHOT = join(ROOT, "test/artifacts/dashboard.png");

let p: Pexd | undefined;
let ctx: BrowserContext | undefined;
const profile = mkdtempSync(join(tmpdir(), "pexd-chromium-"));

beforeAll(async () => {
  if (!haveChromium) return;
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

describe.skipIf(!haveChromium)("dashboard in headless Chromium", () => {
  test("loads cleanly, draws every chart, and the Fibonacci panel follows /next", async () => {
    const srv = p!;
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
    // Two stream points: the second carries rates.
    await page.waitForFunction(() => Number(document.body.dataset.points ?? 0) >= 2, undefined, { timeout: 30_000 });
    expect(await page.textContent("#status")).toBe("live");

    // Ten panels, each with a uPlot canvas that has pixels painted (axes, grid, series).
    const painted = await page.$$eval("section.panel canvas", (canvases) =>
      canvases.map((c) => {
        const cv = c as HTMLCanvasElement;
        const data = cv.getContext("2d")!.getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
        return { w: cv.width, h: cv.height, n };
      }),
    );
    expect(painted).toHaveLength(10);
    for (const c of painted) {
      expect(c.w).toBeGreaterThan(100);
      expect(c.n).toBeGreaterThan(100);
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

    mkdirSync(join(ROOT, "test/artifacts"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
    await page.close();

    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
  }, 120_000);
});
