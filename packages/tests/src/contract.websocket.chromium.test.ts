import { runTransportContractSuite } from "@switchyard/core/testing"
import { websocketChromiumHarness } from "./support/harnesses.ts"

runTransportContractSuite("websocket (chromium)", websocketChromiumHarness)
