import { runTransportContractSuite } from "@switchyard/core/testing"
import { pollingChromiumHarness } from "./support/harnesses.ts"

runTransportContractSuite("polling (chromium)", pollingChromiumHarness)
