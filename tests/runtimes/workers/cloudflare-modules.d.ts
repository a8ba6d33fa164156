// The slice of workerd's test modules these tests use, typed here: the repository's tsconfig checks tests with
// Node + DOM types, and @cloudflare/workers-types' globals would clash with them.
declare module "cloudflare:workers" {
	export interface RunnerStub {
		fetch(input: string | Request, init?: RequestInit): Promise<Response>;
	}
	export const env: {
		EDGERUNNER_ENDPOINT: string;
		EDGERUNNER_RUNNER_NAME: string;
		RIVET_ENGINE_URL: string;
		RIVET_ENGINE_NOT_INSTALLED: string;
		RIVET_ENGINE_START_ERROR: string;
		RUNNER: {
			idFromName(name: string): unknown;
			get(id: unknown): RunnerStub;
		};
	};
	export const exports: {
		default: {
			fetch(input: string | Request, init?: RequestInit): Promise<Response>;
		};
	};
}

declare module "cloudflare:test" {
	import type { RunnerStub } from "cloudflare:workers";
	import type { RunnerDurableObject } from "../../../src/runtimes/cloudflare.ts";
	export function runInDurableObject<R>(
		stub: RunnerStub,
		callback: (instance: RunnerDurableObject) => R | Promise<R>,
	): Promise<R>;
	export function runDurableObjectAlarm(stub: RunnerStub): Promise<boolean>;
	export function abortAllDurableObjects(): Promise<void>;
}
