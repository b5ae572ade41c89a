// HTTP request metrics: requests by method, route pattern and status, and their duration per route.
// The app's request edge calls record() (it already times the request and labels the route for the
// access log); recording is two map look-ups and a few additions.
import { Histogram, type MetricFamily, type Sample } from "./types.ts";

interface RouteStats {
  readonly duration: Histogram;
  /** method → answers by status code (index = status, 100–599). */
  readonly byMethod: Map<string, Float64Array>;
}

const STATUS_SLOTS = 600;

export class HttpMetrics {
  #routes = new Map<string, RouteStats>();

  record(method: string, route: string, status: number, seconds: number): void {
    let r = this.#routes.get(route);
    if (!r) {
      r = { duration: new Histogram(), byMethod: new Map() };
      this.#routes.set(route, r);
    }
    let counts = r.byMethod.get(method);
    if (!counts) {
      counts = new Float64Array(STATUS_SLOTS);
      r.byMethod.set(method, counts);
    }
    counts[status >= 0 && status < STATUS_SLOTS ? status : 0]!++;
    r.duration.observe(seconds);
  }

  families(): MetricFamily[] {
    const requests: Sample[] = [];
    const durations: Sample[] = [];
    for (const [route, r] of this.#routes) {
      for (const [method, counts] of r.byMethod) {
        for (let status = 0; status < STATUS_SLOTS; status++) {
          const value = counts[status]!;
          if (value > 0) requests.push({ labels: { method, route, status: String(status) }, value });
        }
      }
      durations.push(...r.duration.samples({ route }));
    }
    return [
      {
        name: "pexd_http_requests_total",
        help: "HTTP requests answered, by method, route pattern and status.",
        type: "counter",
        samples: requests,
      },
      {
        name: "pexd_http_request_duration_seconds",
        help: "HTTP request duration from the first middleware to the response, by route pattern.",
        type: "histogram",
        samples: durations,
      },
    ];
  }
}
