// The exposition-neutral shape modules use to publish metrics: plain numbers read at scrape time,
// so recording on the hot path is an increment, never a formatting step.

export type MetricType = "counter" | "gauge" | "histogram";

export interface Sample {
  labels?: Record<string, string>;
  value: number;
  /** For histograms: "_bucket" (with an `le` label), "_sum" or "_count". */
  suffix?: "_bucket" | "_sum" | "_count";
}

export interface MetricFamily {
  /** Full name with the pexd_ prefix, base units, `_total` for counters. */
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** Default latency buckets in seconds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A cheap fixed-bucket histogram: observe() is a short linear scan and two additions. */
export class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly buckets: readonly number[] = LATENCY_BUCKETS) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
  /** Samples for one labelled series of a histogram family (cumulative buckets). */
  samples(labels: Record<string, string> = {}): Sample[] {
    const out: Sample[] = [];
    let cum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      cum += this.counts[i]!;
      out.push({ suffix: "_bucket", labels: { ...labels, le: String(this.buckets[i]) }, value: cum });
    }
    out.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: this.count });
    out.push({ suffix: "_sum", labels, value: this.sum });
    out.push({ suffix: "_count", labels, value: this.count });
    return out;
  }
}
