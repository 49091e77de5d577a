// Loads the ACP TypeScript SDK pinned in testdeps/ for agent.mjs and
// drive.mjs. They live outside testdeps/, so Node's resolution of a bare
// `@agentclientprotocol/sdk` from here would not find it; this module
// resolves it from testdeps/package.json instead (or from $ACP_TESTDEPS, a
// directory holding node_modules/).
//
// Besides the public stable-v1 API it loads the SDK's zod schemas
// (dist/v1/schema/zod.gen.js), which the package does not export: drive.mjs
// validates every message the agent sends with them. That path is internal
// to the SDK and is pinned with it (2.4.0).

import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const testdeps = process.env.ACP_TESTDEPS || resolve(here, "..", "..", "testdeps");

let entry;
try {
  entry = createRequire(join(testdeps, "package.json")).resolve("@agentclientprotocol/sdk");
} catch (err) {
  process.stderr.write(
    `acp test tools: @agentclientprotocol/sdk is not installed under ${testdeps} ` +
      `(run \`npm ci --prefix testdeps\`): ${err.message}\n`,
  );
  process.exit(2);
}

/** The SDK's stable ACP v1 API (`import * as acp from "@agentclientprotocol/sdk"`). */
export const acp = await import(pathToFileURL(entry).href);

/** The SDK's generated zod schemas for ACP v1 (zInitializeResponse, ...). */
export const schemas = await import(
  pathToFileURL(join(dirname(entry), "..", "schema", "zod.gen.js")).href
);

/** Where the SDK was loaded from, for diagnostics. */
export const sdkEntry = entry;
