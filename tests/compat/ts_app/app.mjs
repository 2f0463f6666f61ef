// Compatibility app on the official Inngest TypeScript SDK (npm `inngest@4.24.0`).
//
// The acceptance tests run this file unchanged against `surge dev`, the way a user would run
// their existing Inngest app. Nothing here knows about Surge: the SDK finds the server through
// INNGEST_DEV (dev mode; its URL is the API and event origin).
//
// Every step body records its execution in an in-memory ledger keyed by run id and step id, so
// a test can tell "ran exactly once" from "ran twice" (GET /counts, POST /reset). It mirrors
// tests/compat/py_app/app.py function for function.
//
// Usage: `node app.mjs PORT` (or PORT in the environment); serves /api/inngest.

import { appendFileSync } from "node:fs";
import http from "node:http";
import { Inngest, NonRetriableError } from "inngest";
import { metadataMiddleware } from "inngest/experimental";
import { serve } from "inngest/node";
import { makeFunctions } from "./lifecycle.mjs";

const APP_ID = "compat-ts";
const SEND_CHUNK = 5000; // the most events one POST /e/ may carry
const FLAKY_FAILURES = 2; // the flaky step fails this many times per run, then succeeds
const DOOMED_MARKER = "compat-doomed-failure";
const RETURNED = "(returned)"; // ledger key for "the handler reached its return statement"

// --- ledger ------------------------------------------------------------------------------------

let runs = new Map();
let failures = [];
let seq = 0;
let inFlight = {};
let peak = {};
let marks = {};

function resetLedger() {
  runs = new Map();
  failures = [];
  seq = 0;
  inFlight = {};
  peak = {};
  marks = {};
}

/** A step body of `group` starts now, as `name` (GET /counts lists them in order). */
function mark(group, name) {
  (marks[group] ??= []).push({ t: Date.now() / 1000, name });
}

/** A step body of each of `groups` starts ("*" counts them all). */
function enter(...groups) {
  for (const group of groups) {
    inFlight[group] = (inFlight[group] ?? 0) + 1;
    peak[group] = Math.max(peak[group] ?? 0, inFlight[group]);
  }
}

function leave(...groups) {
  for (const group of groups) inFlight[group] -= 1;
}

// With LEDGER_FILE set, every execution is also appended to that file before the step body
// goes on, so that a test that kills this process still knows what ran before the kill.
const LEDGER_FILE = process.env.LEDGER_FILE;

/** Count one execution of `step` in `runId`; return how many there have been. */
function counted(runId, fn, step) {
  if (LEDGER_FILE) appendFileSync(LEDGER_FILE, `${runId}\t${fn}\t${step}\n`);
  seq += 1;
  let run = runs.get(runId);
  if (!run) {
    run = { fn, steps: {}, first_seq: {} };
    runs.set(runId, run);
  }
  run.steps[step] = (run.steps[step] ?? 0) + 1;
  if (!(step in run.first_seq)) run.first_seq[step] = seq;
  return run.steps[step];
}

function snapshot() {
  const out = {};
  let total = 0;
  for (const [runId, run] of runs) {
    out[runId] = { fn: run.fn, steps: { ...run.steps }, first_seq: { ...run.first_seq } };
    for (const n of Object.values(run.steps)) total += n;
  }
  return {
    runs: out,
    failures: [...failures],
    total_executions: total,
    peak_in_flight: { ...peak },
    marks: Object.fromEntries(Object.entries(marks).map(([g, m]) => [g, [...m]])),
  };
}

/** Execution totals per function: cheap enough to poll while thousands of runs go. */
function summary() {
  const byFn = {};
  let total = 0;
  for (const run of runs.values()) {
    for (const n of Object.values(run.steps)) {
      byFn[run.fn] = (byFn[run.fn] ?? 0) + n;
      total += n;
    }
  }
  return { total_executions: total, by_fn: byFn };
}

/** Optional per-step delay (data.step_sleep_ms), so a test can catch work in flight. */
async function pause(event) {
  const ms = Number(event.data?.step_sleep_ms ?? 0);
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}

// Span metadata (experimental in the SDK) is on, as the SDK's own trace tests have it.
// Steps are checkpointed (the SDK's v4 default) unless CHECKPOINTING=false.
const inngest = new Inngest({
  id: APP_ID,
  middleware: [metadataMiddleware()],
  checkpointing: process.env.CHECKPOINTING !== "false",
});

// --- (a) static fan-out: three functions on one event; one of them fails for good -------------

const signupWelcome = inngest.createFunction(
  { id: "signup-welcome", triggers: [{ event: "compat/user.signup" }] },
  async ({ event, step, runId }) => {
    const body = await step.run("render-email", () => {
      counted(runId, "signup-welcome", "render-email");
      return `Welcome, ${event.data.user_id}!`;
    });
    const receipt = await step.run("send-email", () => {
      counted(runId, "signup-welcome", "send-email");
      return { delivered: true };
    });
    return { body, ...receipt };
  },
);

const signupCrm = inngest.createFunction(
  { id: "signup-crm", triggers: [{ event: "compat/user.signup" }] },
  async ({ event, step, runId }) => {
    const contact = await step.run("upsert-contact", () => {
      counted(runId, "signup-crm", "upsert-contact");
      return `contact-${event.data.user_id}`;
    });
    return { contact };
  },
);

const signupBroken = inngest.createFunction(
  { id: "signup-broken", triggers: [{ event: "compat/user.signup" }] },
  async ({ step, runId }) => {
    await step.run("validate", () => {
      counted(runId, "signup-broken", "validate");
      return false;
    });
    counted(runId, "signup-broken", "raise");
    throw new NonRetriableError("signup data is invalid");
  },
);

// --- (b) dynamic fan-out ------------------------------------------------------------------------

const fanoutOrchestrator = inngest.createFunction(
  { id: "fanout-orchestrator", triggers: [{ event: "compat/fanout.start" }] },
  async ({ event, step, runId }) => {
    const count = Number(event.data.count ?? 0);
    const ids = await step.run("load-ids", () => {
      counted(runId, "fanout-orchestrator", "load-ids");
      return Array.from({ length: count }, (_, i) => `item-${i}`);
    });
    const passthrough = {};
    for (const key of ["tag", "step_sleep_ms"]) {
      if (key in event.data) passthrough[key] = event.data[key];
    }
    const eventIds = [];
    for (let start = 0, chunk = 0; start < ids.length; start += SEND_CHUNK, chunk += 1) {
      const events = ids.slice(start, start + SEND_CHUNK).map((itemId) => ({
        name: "compat/fanout.item",
        data: { ...passthrough, item_id: itemId },
      }));
      const sent = await step.sendEvent(`send-items-${chunk}`, events);
      eventIds.push(...sent.ids);
    }
    return { count: ids.length, event_ids: eventIds };
  },
);

const fanoutWorker = inngest.createFunction(
  { id: "fanout-worker", triggers: [{ event: "compat/fanout.item" }] },
  async ({ event, step, runId }) => {
    const itemId = String(event.data.item_id);
    const item = await step.run("fetch-item", async () => {
      counted(runId, "fanout-worker", "fetch-item");
      await pause(event);
      return { item_id: itemId, size: itemId.length };
    });
    // The item is the step's argument (its input), which a rerun from this step may edit.
    const result = await step.run(
      "process-item",
      async (input) => {
        counted(runId, "fanout-worker", "process-item");
        await pause(event);
        return `processed:${input.item_id}:${input.size}`;
      },
      item,
    );
    // Not a step: counts the calls that got past both steps (each replays them from memos).
    counted(runId, "fanout-worker", RETURNED);
    return { item_id: itemId, result };
  },
);

// --- (b2) a limited worker: two steps per run, at most 2 at once per group ---------------------

const limitedWorker = inngest.createFunction(
  {
    id: "limited-worker",
    triggers: [{ event: "compat/limited.item" }],
    concurrency: { limit: 2, key: "event.data.group" },
  },
  async ({ event, step, runId }) => {
    const group = String(event.data.group);
    const work = async (name) => {
      enter("*", group);
      try {
        counted(runId, "limited-worker", name);
        await pause(event);
      } finally {
        leave("*", group);
      }
      return name;
    };
    await step.run("first", () => work("first"));
    return await step.run("second", () => work("second"));
  },
);

// --- (c) chained fan-out: one function emits an event three others consume ----------------------

const orderPlaced = inngest.createFunction(
  { id: "order-placed", triggers: [{ event: "compat/order.placed" }] },
  async ({ event, step, runId }) => {
    const orderId = String(event.data.order_id);
    const reservation = await step.run("reserve-stock", () => {
      counted(runId, "order-placed", "reserve-stock");
      return `reservation-${orderId}`;
    });
    const payment = await step.run("charge-card", () => {
      counted(runId, "order-placed", "charge-card");
      return `charge-${orderId}`;
    });
    const sent = await step.sendEvent("emit-confirmed", {
      name: "compat/order.confirmed",
      data: { order_id: orderId, tag: event.data.tag ?? null, payment },
    });
    return { reservation, payment, event_ids: sent.ids };
  },
);

function makeConsumer(name) {
  return inngest.createFunction(
    { id: name, triggers: [{ event: "compat/order.confirmed" }] },
    async ({ event, step, runId }) => {
      const handled = await step.run("handle", () => {
        counted(runId, name, "handle");
        return `${name}:${event.data.order_id}`;
      });
      return { handled };
    },
  );
}

const orderConsumers = ["confirmed-email", "confirmed-analytics", "confirmed-shipping"].map(
  makeConsumer,
);

// --- (d) flaky step: fails twice, then succeeds -------------------------------------------------

const flaky = inngest.createFunction(
  { id: "flaky", triggers: [{ event: "compat/flaky.start" }] },
  async ({ step, runId }) => {
    // Outside a step: sent to the server's API (POST /v1/runs/{id}/metadata). A call made
    // straight to the app, with a run the server never started, gets a 404: not this
    // function's failure (tests/acceptance/test_signed_apps.py calls it so).
    try {
      await inngest.metadata.run().set({ flaky: true }, "summary");
    } catch (error) {
      console.error(`run-scoped metadata not sent: ${error.message}`);
    }
    return await step.run("unreliable-call", async () => {
      const attempt = counted(runId, "flaky", "unreliable-call");
      // Inside a step: sent with the step's opcode, the last attempt's kept.
      await inngest.metadata.set({ execution: attempt }, "calls");
      if (attempt <= FLAKY_FAILURES) {
        throw new Error(`transient failure on execution ${attempt}`);
      }
      return { succeeded_on_execution: attempt };
    });
  },
);

// --- (e) onFailure handler ------------------------------------------------------------------------

const doomed = inngest.createFunction(
  {
    id: "doomed",
    retries: 1,
    triggers: [{ event: "compat/doomed.start" }],
    onFailure: async ({ event, error, runId }) => {
      seq += 1;
      failures.push({
        handler_run_id: runId,
        event_name: event.name,
        function_id: event.data.function_id,
        failed_run_id: event.data.run_id,
        error_message: error?.message ?? null,
        error_status: event.data.error?.error ?? null,
        seq,
      });
    },
  },
  async ({ step, runId }) => {
    await step.run("always-fails", () => {
      const attempt = counted(runId, "doomed", "always-fails");
      throw new Error(`${DOOMED_MARKER} (execution ${attempt})`);
    });
  },
);

// --- (b3) start gates: a throttle, a rate limit, an idempotency key, priority ------------------

const throttled = inngest.createFunction(
  {
    id: "throttled",
    triggers: [{ event: "compat/throttled.item" }],
    throttle: { limit: 2, period: "2s", burst: 1, key: "event.data.group" },
  },
  async ({ event, step, runId }) =>
    step.run("stamp", () => {
      mark(String(event.data.group), String(event.data.name));
      counted(runId, "throttled", "stamp");
      return "stamped";
    }),
);

const rateLimited = inngest.createFunction(
  {
    id: "rate-limited",
    triggers: [{ event: "compat/rated.item" }],
    rateLimit: { limit: 1, period: "1h", key: "event.data.group" },
  },
  async ({ step, runId }) =>
    step.run("once", () => {
      counted(runId, "rate-limited", "once");
      return "synced";
    }),
);

const idempotent = inngest.createFunction(
  {
    id: "idempotent",
    triggers: [{ event: "compat/idempotent.item" }],
    idempotency: "event.data.order",
  },
  async ({ event, step, runId }) =>
    step.run("charge", () => {
      counted(runId, "idempotent", "charge");
      return `charged:${event.data.order}`;
    }),
);

const prioritized = inngest.createFunction(
  {
    id: "prioritized",
    triggers: [{ event: "compat/prioritized.item" }],
    concurrency: { limit: 1, key: "event.data.group" },
    priority: { run: "event.data.vip ? 300 : 0" },
  },
  async ({ event, step, runId }) =>
    step.run("serve", async () => {
      mark(String(event.data.group), String(event.data.name));
      counted(runId, "prioritized", "serve");
      await pause(event);
      return "served";
    }),
);

// --- (b4) gathers: a debounce and an event batch -----------------------------------------------

const debounced = inngest.createFunction(
  {
    id: "debounced",
    triggers: [{ event: "compat/debounced.item" }],
    debounce: { period: "1s", key: "event.data.group" },
  },
  async ({ event, step, runId }) =>
    step.run("settle", () => {
      mark(String(event.data.group), String(event.data.v));
      counted(runId, "debounced", "settle");
      return event.data.v;
    }),
);

const batched = inngest.createFunction(
  {
    id: "batched",
    triggers: [{ event: "compat/batched.item" }],
    batchEvents: { maxSize: 3, timeout: "1s", key: "event.data.group" },
  },
  async ({ event, events, step, runId }) => {
    const numbers = events.map((e) => e.data.n);
    return step.run("record", () => {
      mark(String(event.data.group), numbers.join(","));
      counted(runId, "batched", "record");
      return numbers;
    });
  },
);

// --- (j) a long checkpointed run: more steps than fit in one call's maxRuntime ----------------

const longSteps = inngest.createFunction(
  {
    id: "long-steps",
    triggers: [{ event: "compat/long.steps" }],
    // Each call runs steps for 300 ms, then hands the next one back to the server.
    checkpointing: process.env.CHECKPOINTING === "false" ? false : { maxRuntime: 300 },
  },
  async ({ step, runId }) => {
    let total = 0;
    for (let n = 0; n < 6; n++) {
      total += await step.run(`slow-${n}`, async () => {
        counted(runId, "long-steps", `slow-${n}`);
        await new Promise((resolve) => setTimeout(resolve, 120));
        return n;
      });
    }
    return { total };
  },
);

const functions = [
  longSteps,
  signupWelcome,
  signupCrm,
  signupBroken,
  fanoutOrchestrator,
  fanoutWorker,
  limitedWorker,
  throttled,
  rateLimited,
  idempotent,
  prioritized,
  debounced,
  batched,
  orderPlaced,
  ...orderConsumers,
  flaky,
  doomed,
  ...makeFunctions(inngest, mark),
];

// --- HTTP -----------------------------------------------------------------------------------------

const inngestHandler = serve({ client: inngest, functions });

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const path = url.pathname;
  if (path === "/api/inngest") return inngestHandler(req, res);
  if (path === "/counts" && req.method === "GET") {
    const wantSummary = ["1", "true"].includes(url.searchParams.get("summary") ?? "");
    return sendJson(res, 200, wantSummary ? summary() : snapshot());
  }
  if (path === "/reset" && req.method === "POST") {
    resetLedger();
    return sendJson(res, 200, { ok: true });
  }
  return sendJson(res, 404, { error: "not found" });
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 8302);
server.listen(port, "127.0.0.1", () => {
  console.log(`compat-ts listening on http://127.0.0.1:${port}/api/inngest`);
});

function shutdown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
