import { runTransportContractSuite } from "@switchyard/core/testing"
import { sseChromiumHarness } from "./support/harnesses.ts"

runTransportContractSuite("sse (chromium)", sseChromiumHarness)
