import { relayStoreContract } from "../relay.contract.ts";
import { MemoryRelayStore } from "./relay.memory.ts";

relayStoreContract("memory", () => new MemoryRelayStore());
