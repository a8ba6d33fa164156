/**
 * The differential for the tunnel: the reference runner (@rivetkit/engine-runner 2.2.1) serves the same HTTP and
 * WebSocket scenarios through our gateway as our runner does (tests/e2e/tunnel-ours.test.ts).
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import {
	describeTunnelScenarios,
	type TunnelRunnerClass,
} from "../e2e/tunnel-scenarios.ts";

describeTunnelScenarios(
	"tunnel: reference runner through the dev engine's gateway",
	ReferenceRunner as unknown as TunnelRunnerClass,
);
