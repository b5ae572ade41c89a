// The widgets feature as a PexdModule: routes and the widget-count gauge (the store is closed with
// the other stores).
import type { PexdModule } from "../module.ts";
import type { WidgetStore } from "../storage/widget.port.ts";
import { registerWidgetRoutes } from "./widgets.routes.ts";
import { WidgetsService } from "./widgets.service.ts";

export function widgetsModule(store: WidgetStore): PexdModule & { service: WidgetsService } {
  const service = new WidgetsService(store);
  return {
    name: "widgets",
    service,
    register(app, ctx) {
      registerWidgetRoutes(app, service, ctx.mutating);
    },
    metrics: () => [{ name: "pexd_widgets", help: "Current number of widgets.", type: "gauge", samples: [{ value: service.count }] }],
  };
}
