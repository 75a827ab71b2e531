import { runTransportContractSuite } from "@switchyard/core/testing"
import { longPollingNodeHarness } from "./support/harnesses.ts"

runTransportContractSuite("long-polling (node)", longPollingNodeHarness)
