import { runTransportContractSuite } from "@switchyard/core/testing"
import { testSocketNodeHarness } from "./support/harnesses.ts"

runTransportContractSuite("test-socket (a transport of a new id)", testSocketNodeHarness)
