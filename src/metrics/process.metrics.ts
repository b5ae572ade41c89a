// Process metrics: memory, CPU time, open file descriptors (read through a probe the runtime
// provides), event-loop lag (a portable timer), uptime and build info.
import type { MetricFamily } from "./types.ts";

/** What the runtime can tell about its own process; the Bun probe lives in runtime/bun. */
export interface ProcessProbe {
  /** Bytes. */
  memory(): { rss: number; heapUsed: number; heapTotal: number };
  /** CPU time used by the process since it started, in seconds. */
  cpuSeconds(): { user: number; system: number };
  /** Open file descriptors, or null where the runtime cannot count them. */
  openFds(): number | null;
}

/**
 * Event-loop lag: how late a 500 ms timer fires. A blocked loop delays every request by the same
 * amount, so this is the figure to watch when p99 rises with no slow route to blame.
 */
export class EventLoopLag {
  #timer: ReturnType<typeof setInterval> | undefined;
  #expected = 0;
  #last = 0;

  constructor(
    readonly intervalMs = 500,
    readonly now: () => number = () => performance.now(),
  ) {}

  start(): this {
    if (this.#timer) return this;
    this.#expected = this.now() + this.intervalMs;
    this.#timer = setInterval(() => {
      const t = this.now();
      this.#last = Math.max(0, t - this.#expected) / 1000;
      this.#expected = t + this.intervalMs;
    }, this.intervalMs);
    // Never keep the process alive for a measurement.
    (this.#timer as { unref?: () => void }).unref?.();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Seconds of the last measurement. */
  get last(): number {
    return this.#last;
  }
}

export function processFamilies(opts: {
  probe: ProcessProbe;
  lag: EventLoopLag;
  version: string;
  startedAtMs: number;
  nowMs: number;
}): MetricFamily[] {
  const { probe, lag } = opts;
  const mem = probe.memory();
  const cpu = probe.cpuSeconds();
  const fds = probe.openFds();
  const out: MetricFamily[] = [
    {
      name: "pexd_build_info",
      help: "Build information; the value is always 1.",
      type: "gauge",
      samples: [{ labels: { version: opts.version }, value: 1 }],
    },
    { name: "process_resident_memory_bytes", help: "Resident set size of the process.", type: "gauge", samples: [{ value: mem.rss }] },
    { name: "pexd_process_heap_used_bytes", help: "JavaScript heap in use.", type: "gauge", samples: [{ value: mem.heapUsed }] },
    { name: "pexd_process_heap_total_bytes", help: "JavaScript heap reserved.", type: "gauge", samples: [{ value: mem.heapTotal }] },
    {
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent by the process.",
      type: "counter",
      samples: [{ value: cpu.user + cpu.system }],
    },
    {
      name: "pexd_process_cpu_user_seconds_total",
      help: "User CPU time spent by the process.",
      type: "counter",
      samples: [{ value: cpu.user }],
    },
    {
      name: "pexd_process_cpu_system_seconds_total",
      help: "System CPU time spent by the process.",
      type: "counter",
      samples: [{ value: cpu.system }],
    },
    {
      name: "process_start_time_seconds",
      help: "Start time of the process since the Unix epoch.",
      type: "gauge",
      samples: [{ value: Math.floor(opts.startedAtMs / 1000) }],
    },
    {
      name: "pexd_process_uptime_seconds",
      help: "Seconds since the process started.",
      type: "gauge",
      samples: [{ value: Math.max(0, (opts.nowMs - opts.startedAtMs) / 1000) }],
    },
    {
      name: "pexd_event_loop_lag_seconds",
      help: "Delay of the last 500 ms event-loop timer beyond its due time.",
      type: "gauge",
      samples: [{ value: lag.last }],
    },
  ];
  if (fds !== null)
    out.push({ name: "process_open_fds", help: "Open file descriptors of the process.", type: "gauge", samples: [{ value: fds }] });
  return out;
}
