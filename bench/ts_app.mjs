// The fan-out benchmark's app on the official TypeScript SDK (npm `inngest` 4.x, as installed
// for the compatibility tests: tests/compat/ts_app), one node process: `bench-orchestrator`
// sends one `bench/item` per item, `bench-worker` runs two steps. Like bench/app_stats.py it
// counts every call and answers GET /stats and GET /wait for bench/fanout.py.
//
// Usage: node bench/ts_app.mjs --port P --server URL   (CHECKPOINTING=false in the
// environment turns the SDK's checkpointing off; Surge does not offer it yet either way)

import http from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const require = createRequire(`${here}../tests/compat/ts_app/package.json`);
const { Inngest } = await import(pathToFileURL(require.resolve("inngest")).href);
const { serve } = await import(pathToFileURL(require.resolve("inngest/node")).href);

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const port = Number(option("--port"));
const SEND_CHUNK = 5000; // the most events one POST /e/ takes
const server = option("--server");
if (option("--signing-key")) throw new Error("bench/ts_app.mjs runs against surge dev only");

// --- what the app saw (bench/app_stats.py's protocol) --------------------------------------
let calls = 0;
const callsByFn = {};
let workerFinal = 0;
const firstCall = {};
const finalByEvent = {};
let waiters = [];

function record(fn, runId, eventId) {
  calls += 1;
  callsByFn[fn] = (callsByFn[fn] || 0) + 1;
  if (!(runId in firstCall)) firstCall[runId] = [Date.now() / 1000, eventId || null];
}

function final(runId, eventId) {
  workerFinal += 1;
  if (eventId) finalByEvent[eventId] = [firstCall[runId][0], Date.now() / 1000];
  waiters = waiters.filter(({ check, done }) => {
    const result = check();
    if (result === null) return true;
    done(result);
    return false;
  });
}

function snapshot(full) {
  const out = { calls, calls_by_fn: callsByFn, worker_final: workerFinal, runs: Object.keys(firstCall).length };
  if (full) out.first_call = firstCall;
  return out;
}

function wait(wanted, eventId, timeoutS) {
  const check = eventId
    ? () => finalByEvent[eventId] || null
    : () => (workerFinal >= wanted ? workerFinal : null);
  const now = check();
  if (now !== null) return Promise.resolve(now);
  return new Promise((resolve) => {
    const entry = { check, done: resolve };
    waiters.push(entry);
    setTimeout(() => {
      waiters = waiters.filter((w) => w !== entry);
      resolve(null);
    }, timeoutS * 1000);
  });
}

// --- the functions ---------------------------------------------------------------------------
const inngest = new Inngest({
  id: "bench",
  isDev: true,
  baseUrl: server,
  checkpointing: process.env.CHECKPOINTING !== "false",
});

const orchestrator = inngest.createFunction(
  { id: "orchestrator", retries: 3, triggers: [{ event: "bench/start" }] },
  async ({ event, step, runId }) => {
    record("bench-orchestrator", runId, event.id);
    const n = await step.run("load", () => Number(event.data.n || 0));
    const events = Array.from({ length: n }, (_, i) => ({ name: "bench/item", data: { i } }));
    let sent = 0;
    for (let at = 0; at < n; at += SEND_CHUNK) {  // no POST /e/ over the server's limit
      const chunk = events.slice(at, at + SEND_CHUNK);
      sent += (await step.sendEvent(`send-${at / SEND_CHUNK}`, chunk)).ids.length;
    }
    return { sent };
  },
);

const worker = inngest.createFunction(
  { id: "worker", retries: 3, triggers: [{ event: "bench/item" }] },
  async ({ event, step, runId }) => {
    record("bench-worker", runId, event.id);
    await step.run("a", () => 1);
    await step.run("b", () => 2);
    final(runId, event.id);
    return { ok: true };
  },
);

const handler = serve({ client: inngest, functions: [orchestrator, worker] });

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname === "/stats" || url.pathname === "/wait") {
      let body;
      if (url.pathname === "/stats") {
        body = snapshot(url.searchParams.get("full") === "1");
      } else {
        const wanted = Number(url.searchParams.get("final") || 0);
        const eventId = url.searchParams.get("event_id");
        const timeoutS = Number(url.searchParams.get("timeout") || 10);
        const result = await wait(wanted, eventId, timeoutS);
        body = { result, ...snapshot(false) };
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      return;
    }
    return handler(req, res);
  })
  .listen(port, "127.0.0.1", () => console.log(`ts app listening on http://127.0.0.1:${port}/api/inngest`));
