import type { Wire } from "./wire.ts";

/** Placeholder until the widgets module lands. */
export const wireWidgets: Wire = async () => null;
