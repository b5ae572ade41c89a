// Metrics wiring for Bun: the process probe (memory, CPU, /proc/self/fd) and uPlot's files from
// node_modules, handed to the portable metrics module.
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import type { AssetSource } from "../../http/meta.routes.ts";
import { metricsModule, type MetricsDeps, type MetricsModule } from "../../metrics/metrics.module.ts";
import type { ProcessProbe } from "../../metrics/process.metrics.ts";

export const bunProcessProbe: ProcessProbe = {
  memory: () => {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal };
  },
  cpuSeconds: () => {
    const u = process.cpuUsage();
    return { user: u.user / 1e6, system: u.system / 1e6 };
  },
  openFds: () => {
    try {
      // The listing's own descriptor is closed again before it returns; Linux only.
      return readdirSync("/proc/self/fd").length;
    } catch {
      return null;
    }
  },
};

const uplotDir = resolve(import.meta.dir, "../../../node_modules/uplot/dist");
const UPLOT_FILES = new Set(["uPlot.iife.min.js", "uPlot.min.css"]);

/** Only the two uPlot files, so the route cannot be walked to other paths. */
export const uplotAssets: AssetSource = async (name) => {
  if (!UPLOT_FILES.has(name)) return null;
  const f = Bun.file(resolve(uplotDir, name));
  return (await f.exists()) ? { body: f, type: f.type } : null;
};

export function wireMetrics(deps: Omit<MetricsDeps, "processProbe" | "assets">): MetricsModule {
  return metricsModule({ ...deps, processProbe: bunProcessProbe, assets: uplotAssets });
}
