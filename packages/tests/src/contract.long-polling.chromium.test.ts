import { runTransportContractSuite } from "@switchyard/core/testing"
import { longPollingChromiumHarness } from "./support/harnesses.ts"

runTransportContractSuite("long-polling (chromium)", longPollingChromiumHarness)
