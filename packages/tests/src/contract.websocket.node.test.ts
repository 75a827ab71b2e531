import { runTransportContractSuite } from "@switchyard/core/testing"
import { websocketNodeHarness } from "./support/harnesses.ts"

runTransportContractSuite("websocket (node)", websocketNodeHarness)
