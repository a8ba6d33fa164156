/**
 * The third column: the reference runner (@rivetkit/engine-runner 2.2.1) through the real Rivet Engine's gateway,
 * on the same scenarios as ours (tests/rivet-engine/tunnel-ours.test.ts).
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import {
	describeTunnelScenarios,
	type TunnelRunnerClass,
} from "../e2e/tunnel-scenarios.ts";

describeTunnelScenarios(
	"tunnel: reference runner through the real Rivet Engine's gateway",
	ReferenceRunner as unknown as TunnelRunnerClass,
	"rivet",
);
