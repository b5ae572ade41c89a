import type { Wire } from "./wire.ts";

/** Placeholder until the eth module lands. */
export const wireEth: Wire = async () => null;
