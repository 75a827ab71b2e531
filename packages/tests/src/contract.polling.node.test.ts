import { runTransportContractSuite } from "@switchyard/core/testing"
import { pollingNodeHarness } from "./support/harnesses.ts"

runTransportContractSuite("polling (node)", pollingNodeHarness)
