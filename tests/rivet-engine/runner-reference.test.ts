/**
 * The shared runner scenarios (tests/conformance/runner-scenarios.ts) with the reference runner
 * (@rivetkit/engine-runner 2.2.1) on the real Rivet Engine: what the real engine does with R is the baseline the
 * dev engine and our runner are compared with.
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import {
	describeRunnerScenarios,
	type RunnerClass,
} from "../conformance/runner-scenarios.ts";

describeRunnerScenarios(
	"reference runner on the real Rivet Engine",
	ReferenceRunner as unknown as RunnerClass,
	"rivet",
	"reference",
);
