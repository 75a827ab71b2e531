import { runTransportContractSuite } from "@switchyard/core/testing"
import { longPollingNodeFetchHarness, sseNodeFetchHarness } from "./support/harnesses.ts"

runTransportContractSuite("sse (node, nodeFetch)", sseNodeFetchHarness)
runTransportContractSuite("long-polling (node, nodeFetch)", longPollingNodeFetchHarness)
