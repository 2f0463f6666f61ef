// The compatibility app's waiting steps and run lifecycle: waitForEvent, invoke, cancelOn.
// Mirrors tests/compat/py_app/lifecycle.py; each step body marks its group in the ledger, so a
// test can see which steps ran, in which order, and that nothing ran after a cancellation.

import { NonRetriableError, referenceFunction } from "inngest";

/** The lifecycle functions of `inngest`, recording through `mark(group, name)`. */
export function makeFunctions(inngest, mark) {
  const approval = inngest.createFunction(
    { id: "approval", triggers: [{ event: "compat/approval.requested" }] },
    async ({ event, step }) => {
      const group = event.data.group;
      await step.run("requested", () => {
        mark(group, "requested");
      });
      const decided = await step.waitForEvent("await-decision", {
        event: "compat/approval.decided",
        match: "data.request_id",
        timeout: Number(event.data.timeout_ms),
      });
      return { decision: decided === null ? null : decided.data.decision };
    },
  );

  const child = inngest.createFunction(
    { id: "child", retries: 0, triggers: [{ event: "compat/child.run" }] },
    async ({ event, step }) => {
      const data = event.data;
      if (data.sleep_ms) await step.sleep("linger", Number(data.sleep_ms));
      if (data.fail) throw new NonRetriableError(`child refused ${data.x}`);
      return { doubled: Number(data.x ?? 0) * 2, event: event.name };
    },
  );

  const invoker = inngest.createFunction(
    { id: "invoker", triggers: [{ event: "compat/invoker.start" }] },
    async ({ event, step }) => {
      const { timeout_ms: timeoutMs, ...data } = event.data;
      const target =
        data.target === "missing"
          ? referenceFunction({ functionId: "no-such-function" })
          : data.target === "other-app"
            ? referenceFunction({ appId: data.app, functionId: "child" })
            : child;
      try {
        const result = await step.invoke("call", {
          function: target,
          data,
          ...(timeoutMs === undefined ? {} : { timeout: Number(timeoutMs) }),
        });
        return { result };
      } catch (err) {
        return { error: err?.message ?? String(err), type: err?.name ?? "Error" };
      }
    },
  );

  const cancellable = inngest.createFunction(
    {
      id: "cancellable",
      triggers: [{ event: "compat/cancellable.start" }],
      cancelOn: [{ event: "compat/cancellable.stop", match: "data.group" }],
    },
    async ({ event, step }) => {
      const group = event.data.group;
      await step.run("first", () => {
        mark(group, "first");
      });
      await step.sleep("nap", "30s");
      await step.run("second", () => {
        mark(group, "second");
      });
      return "finished";
    },
  );

  const slow = inngest.createFunction(
    { id: "slow", triggers: [{ event: "compat/slow.start" }] },
    async ({ event, step }) => {
      const group = event.data.group;
      await step.run("slow", async () => {
        mark(group, "slow-began");
        await new Promise((resolve) => setTimeout(resolve, Number(event.data.step_s) * 1000));
        mark(group, "slow-ended");
        return "slow-result";
      });
      await step.run("after", () => {
        mark(group, "after");
      });
      return "finished";
    },
  );

  const inferrer = inngest.createFunction(
    { id: "inferrer", triggers: [{ event: "compat/infer" }] },
    async ({ event, step }) => {
      const model = step.ai.models.openai({
        model: "gpt-test",
        apiKey: "sk-test",
        baseUrl: event.data.base_url,
      });
      const body = { messages: [{ role: "user", content: "hi" }] };
      return await step.ai.infer("ask", { model, body });
    },
  );

  const fetcher = inngest.createFunction(
    { id: "fetcher", triggers: [{ event: "compat/fetch" }] },
    async ({ event, step }) => {
      const res = await step.fetch(event.data.url, {
        method: "POST",
        headers: { authorization: "Bearer s3cret" },
        body: "ping",
      });
      return { status: res.status, text: await res.text() };
    },
  );

  return [
    approval,
    child,
    invoker,
    cancellable,
    slow,
    inferrer,
    fetcher,
    ...limits(inngest, mark),
  ];
}

/** Marks `first-<label>`, sleeps 30 s, marks `second-<label>`. */
async function napBetween(event, step, mark, label) {
  const group = event.data.group;
  await step.run("first", () => {
    mark(group, `first-${label}`);
  });
  await step.sleep("nap", "30s");
  await step.run("second", () => {
    mark(group, `second-${label}`);
  });
  return label;
}

function limits(inngest, mark) {
  const singleSkip = inngest.createFunction(
    {
      id: "single-skip",
      triggers: [{ event: "compat/single.skip" }],
      singleton: { key: "event.data.group", mode: "skip" },
    },
    async ({ event, step }) => napBetween(event, step, mark, String(event.data.n)),
  );
  const singleCancel = inngest.createFunction(
    {
      id: "single-cancel",
      triggers: [{ event: "compat/single.cancel" }],
      singleton: { key: "event.data.group", mode: "cancel" },
    },
    async ({ event, step }) => napBetween(event, step, mark, String(event.data.n)),
  );
  const finishTimeout = inngest.createFunction(
    {
      id: "finish-timeout",
      triggers: [{ event: "compat/finish.timeout" }],
      timeouts: { finish: "2s" },
    },
    async ({ event, step }) => napBetween(event, step, mark, "only"),
  );
  const startTimeout = inngest.createFunction(
    {
      id: "start-timeout",
      triggers: [{ event: "compat/start.timeout" }],
      concurrency: { limit: 1 },
      timeouts: { start: "1s" },
    },
    async ({ event, step }) => {
      const label = String(event.data.n);
      await step.run("hold", async () => {
        mark(event.data.group, `hold-${label}`);
        await new Promise((resolve) => setTimeout(resolve, Number(event.data.hold_s) * 1000));
      });
      return label;
    },
  );
  return [singleSkip, singleCancel, finishTimeout, startTimeout];
}
