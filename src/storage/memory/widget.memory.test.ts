import { widgetStoreContract } from "../../../test/contracts/widget.contract.ts";
import { MemoryWidgetStore } from "./widget.memory.ts";

widgetStoreContract("memory", { make: () => new MemoryWidgetStore() });
