/**
 * The differential: the shared runner scenarios with the reference runner (@rivetkit/engine-runner 2.2.1) on the
 * dev engine. tests/e2e/our-runner-scenarios.test.ts runs the same list with our runner.
 */
import { Runner as ReferenceRunner } from "@rivetkit/engine-runner";
import {
	describeRunnerScenarios,
	type RunnerClass,
} from "./runner-scenarios.ts";

describeRunnerScenarios(
	"reference runner on the dev engine",
	ReferenceRunner as unknown as RunnerClass,
	"dev",
	"reference",
);
