// A TypeScript-SDK app for bench/latency.py: `ten-steps`, ten trivial sequential step.runs on
// `bench/ten.steps`, on the official `inngest` npm package installed for the compatibility
// tests (tests/compat/ts_app, `make install`), served by node's http module.
//
// Usage: node bench/latency_ts_app.mjs PORT   (INNGEST_DEV=<server URL> in the environment;
// CHECKPOINTING=false turns the SDK's checkpointing off)

import http from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const require = createRequire(`${here}../tests/compat/ts_app/package.json`);
const { Inngest } = await import(pathToFileURL(require.resolve("inngest")).href);
const { serve } = await import(pathToFileURL(require.resolve("inngest/node")).href);

const STEPS = 10;
const checkpointing = process.env.CHECKPOINTING !== "false";
const inngest = new Inngest({ id: "latency-ts", checkpointing });

const tenSteps = inngest.createFunction(
  { id: "ten-steps", retries: 0, triggers: [{ event: "bench/ten.steps" }] },
  async ({ step }) => {
    let total = 0;
    for (let n = 0; n < STEPS; n++) {
      total += await step.run(`step-${n}`, () => n);
    }
    return total;
  },
);

const handler = serve({ client: inngest, functions: [tenSteps] });
const port = Number(process.argv[2] || process.env.PORT);
http.createServer((req, res) => {
  if (req.url.startsWith("/api/inngest")) return handler(req, res);
  res.writeHead(404).end();
}).listen(port, "127.0.0.1", () => console.log(`latency-ts on ${port}`));
