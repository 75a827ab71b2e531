import { runTransportContractSuite } from "@switchyard/core/testing"
import { sseNodeHarness } from "./support/harnesses.ts"

runTransportContractSuite("sse (node)", sseNodeHarness)
