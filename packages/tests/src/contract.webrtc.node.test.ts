import { runTransportContractSuite } from "@switchyard/core/testing"
import { webrtcNodeHarness } from "./support/harnesses.ts"

runTransportContractSuite("webrtc (node)", webrtcNodeHarness)
