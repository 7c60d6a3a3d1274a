import { PublishQueue } from "../../src/jobs/publish-queue";
import type { PublishOptions, PubSubClient } from "../../src/pubsub/types";

/** A client whose publishes complete only when the test says so. */
function manualClient() {
  const started: Array<{ topic: string; finish: (error?: Error) => void }> = [];
  const client = {
    clientId: "c",
    publish(topic: string, _payload: string | Buffer, _opts?: PublishOptions): Promise<void> {
      return new Promise((resolve, reject) => started.push({ topic, finish: (error) => (error ? reject(error) : resolve()) }));
    },
  } as unknown as PubSubClient;
  return { client, started };
}

const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe("PublishQueue", () => {
  it("starts a publish only after the previous one completed, in push order", async () => {
    const { client, started } = manualClient();
    const q = new PublishQueue(() => undefined);
    q.push(client, "a", "1", {});
    q.push(client, "b", "2", {});
    q.push(client, "c", "3", {});
    expect(q.size).toBe(3);
    await ticks();
    expect(started.map((s) => s.topic)).toEqual(["a"]);
    started[0].finish();
    await ticks();
    expect(started.map((s) => s.topic)).toEqual(["a", "b"]);
    started[1].finish();
    await ticks();
    started[2].finish();
    await ticks();
    expect(started.map((s) => s.topic)).toEqual(["a", "b", "c"]);
    expect(q.size).toBe(0);
  });

  it("never publishes in the caller's turn", async () => {
    const { client, started } = manualClient();
    const q = new PublishQueue(() => undefined);
    q.push(client, "a", "1", {});
    expect(started).toHaveLength(0);
    await ticks(1);
    expect(started).toHaveLength(1);
  });

  it("reports failures (not the quiet ones) and carries on", async () => {
    const { client, started } = manualClient();
    const errors: string[] = [];
    const q = new PublishQueue((topic, e) => errors.push(`${topic}: ${(e as Error).message}`));
    q.push(client, "a", "1", {});
    const quiet = q.pushQuietly(client, "log", "x", {});
    q.push(client, "b", "2", {});
    await ticks();
    started[0].finish(new Error("gone"));
    await ticks();
    started[1].finish(new Error("gone too"));
    await expect(quiet).resolves.toBeUndefined();
    await ticks();
    started[2].finish();
    await ticks();
    expect(errors).toEqual(["a: gone"]);
    expect(started.map((s) => s.topic)).toEqual(["a", "log", "b"]);
  });

  it("idle() waits for messages pushed while waiting", async () => {
    const { client, started } = manualClient();
    const q = new PublishQueue(() => undefined);
    await expect(q.idle()).resolves.toBeUndefined();
    q.push(client, "a", "1", {});
    let idle = false;
    void q.idle().then(() => {
      idle = true;
    });
    await ticks();
    q.push(client, "b", "2", {});
    started[0].finish();
    await ticks();
    expect(idle).toBe(false);
    started[1].finish();
    await ticks();
    expect(idle).toBe(true);
  });

  it("a publish that throws synchronously counts as failed", async () => {
    const client = {
      publish: () => {
        throw new Error("boom");
      },
    } as unknown as PubSubClient;
    const errors: string[] = [];
    const q = new PublishQueue((topic) => errors.push(topic));
    q.push(client, "a", "1", {});
    await q.idle();
    expect(errors).toEqual(["a"]);
  });
});
