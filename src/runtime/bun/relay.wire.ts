import type { Wire } from "./wire.ts";

/** Placeholder until the relay module lands. */
export const wireRelay: Wire = async () => null;
