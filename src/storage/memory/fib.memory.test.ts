import { fibStoreContract } from "../../../test/contracts/fib.contract.ts";
import { MemoryFibStore } from "./fib.memory.ts";

fibStoreContract("memory", async () => ({ store: new MemoryFibStore() }));
