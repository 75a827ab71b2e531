import { runTransportContractSuite } from "@switchyard/core/testing"
import { memoryHarness } from "./support/harnesses.ts"

runTransportContractSuite("memory", memoryHarness)
