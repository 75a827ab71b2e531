import { runTransportContractSuite } from "@switchyard/core/testing"
import { webrtcChromiumHarness } from "./support/harnesses.ts"

runTransportContractSuite("webrtc (chromium)", webrtcChromiumHarness)
