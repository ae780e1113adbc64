// A small web app as a team would write it, built by a bundler (apps.test.mjs
// runs esbuild on it): every entry point of the package, and the OpenFeature web SDK.
import { init, Evaluator } from "stagegate-evaluator";
import { createLiveClient } from "stagegate-evaluator/live";
import { StagegateWebProvider } from "stagegate-evaluator/openfeature";
import { createReporter } from "stagegate-evaluator/reporter";
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";

// The test drives the app from the page through this.
window.app = { init, Evaluator, createLiveClient, StagegateWebProvider, createReporter, OpenFeature, ProviderEvents };
