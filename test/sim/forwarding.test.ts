/**
 * The packing of a shard's database-bound messages: what goes in comes out, byte for byte and in
 * order, across batches (topics interned once), through a real structured-clone transfer, and two
 * shards' messages merge by delivery time. A batch read later than a newer one arrived still
 * names its topics right (topics are learnt on arrival).
 */
import { MessageChannel } from "node:worker_threads";
import { ForwardPacker, ForwardReader, mergeByTime } from "../../src/sim/sharded/forwarding";
import type { ForwardedBatch } from "../../src/sim/sharded/protocol";

function readAll(reader: ForwardReader): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  while (Number.isFinite(reader.peekTime())) {
    const m = reader.next();
    out.push([m.topic, m.payload.toString("utf8"), m.timeMs]);
  }
  return out;
}

/** Sends a batch through a MessageChannel with its buffers transferred, as a shard does. */
function transfer(batch: ForwardedBatch): Promise<ForwardedBatch> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port2.once("message", (b: ForwardedBatch) => {
      port1.close();
      port2.close();
      resolve(b);
    });
    port1.postMessage(batch, ForwardPacker.transferables(batch));
  });
}

test("messages come back in order with their bytes, topics and times, across batches and growth", async () => {
  const packer = new ForwardPacker();
  const reader = new ForwardReader();
  const sent: Array<[string, string, number]> = [];
  for (let batch = 0; batch < 3; batch++) {
    // Enough messages and bytes to outgrow the packer's first arrays.
    for (let i = 0; i < 3000; i++) {
      const topic = `pioreactor/unit${i % 3}/exp/od_reading/ods`;
      const payload = `{"i": ${i}, "batch": ${batch}, "text": "${"é".repeat(i % 40)}"}`;
      const t = 1_000 * batch + i;
      packer.add(topic, Buffer.from(payload, "utf8"), t);
      sent.push([topic, payload, t]);
    }
    const b = await transfer(packer.take());
    // Topics are sent once: only the first batch names them.
    expect(b.newTopics.length).toBe(batch === 0 ? 3 : 0);
    reader.learn(b);
    reader.load(b);
    expect(readAll(reader)).toEqual(sent.splice(0));
  }
});

test("batches read after newer ones arrived keep their topics", () => {
  const packer = new ForwardPacker();
  const reader = new ForwardReader();
  packer.add("first", Buffer.from("1"), 1);
  const older = packer.take();
  packer.add("second", Buffer.from("2"), 2);
  const newer = packer.take();
  reader.learn(older);
  reader.learn(newer);
  reader.load(older);
  expect(readAll(reader)).toEqual([["first", "1", 1]]);
  reader.load(newer);
  expect(readAll(reader)).toEqual([["second", "2", 2]]);
});

test("an empty batch and an empty payload survive the trip", async () => {
  const packer = new ForwardPacker();
  const reader = new ForwardReader();
  const empty = await transfer(packer.take());
  reader.learn(empty);
  reader.load(empty);
  expect(readAll(reader)).toEqual([]);
  packer.add("pioreactor/u/e/od_reading/ods", Buffer.alloc(0), 5);
  const one = await transfer(packer.take());
  reader.learn(one);
  reader.load(one);
  expect(readAll(reader)).toEqual([["pioreactor/u/e/od_reading/ods", "", 5]]);
});

test("two shards' messages merge by delivery time, the first shard first on ties", () => {
  const a = new ForwardPacker();
  const b = new ForwardPacker();
  for (const t of [1, 3, 3, 7]) a.add("a", Buffer.from(`a${t}`), t);
  for (const t of [0, 3, 8]) b.add("b", Buffer.from(`b${t}`), t);
  const ra = new ForwardReader();
  const rb = new ForwardReader();
  for (const [reader, packer] of [
    [ra, a],
    [rb, b],
  ] as const) {
    const batch = packer.take();
    reader.learn(batch);
    reader.load(batch);
  }
  const order: string[] = [];
  mergeByTime([ra, rb], (m) => order.push(m.payload.toString()));
  expect(order).toEqual(["b0", "a1", "a3", "a3", "b3", "a7", "b8"]);
});
