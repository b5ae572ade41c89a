import { relayStoreContract } from "../../../test/contracts/relay.contract.ts";
import { MemoryRelayStore } from "./relay.memory.ts";

relayStoreContract("memory", () => new MemoryRelayStore());
