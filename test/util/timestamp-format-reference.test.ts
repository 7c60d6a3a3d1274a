import { encodeMsgspecJson } from "../../src/pubsub/msgspec-json";
import { formatMillisTimestamp, formatPayloadTimestamp } from "../../src/util/python-format";
import { seededRandom as random } from "../../src/sim/seeded-random";

// The implementations these replaced (assembled from the Date's UTC getters), kept as the
// reference: the arithmetic versions must write the same bytes for every instant.
const pad = (n: number, width: number) => n.toString().padStart(width, "0");
const isoSeconds = (d: Date) =>
  `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
  `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
function referencePayloadTimestamp(ms: number): string {
  const d = new Date(ms);
  const millis = d.getUTCMilliseconds();
  return millis === 0 ? `${isoSeconds(d)}Z` : `${isoSeconds(d)}.${pad(millis, 3)}000Z`;
}
function referenceMillisTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${isoSeconds(d)}.${pad(d.getUTCMilliseconds(), 3)}Z`;
}

describe("timestamp formatting matches the Date-getter reference", () => {
  const instants: number[] = [
    0,
    Date.UTC(1000, 0, 1),
    Date.UTC(1000, 0, 1) - 1,
    Date.UTC(999, 11, 31, 23, 59, 59, 999),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    Date.UTC(10000, 0, 1),
    Date.UTC(2026, 0, 1),
    Date.UTC(2026, 0, 1, 0, 0, 0, 1),
    Date.UTC(2026, 0, 1, 0, 0, 0, 100),
    Date.UTC(2026, 0, 1, 0, 0, 0, 10),
    -1,
    1.5,
    -1.5,
    Date.UTC(2026, 0, 1) + 0.999,
    -0.5,
    -999.9,
    Date.UTC(2024, 1, 29, 23, 59, 59, 999),
    Date.UTC(2000, 1, 29),
    Date.UTC(1900, 2, 1),
    Date.UTC(-1, 0, 1),
    8.64e15,
    -8.64e15,
    8.64e15 + 1,
    Number.NaN,
  ];
  const next = random(20260101);
  // Millisecond instants around now, whole seconds, and any instant a Date can hold.
  for (let i = 0; i < 20_000; i++) instants.push(Date.UTC(2026, 0, 1) + Math.floor(next() * 3e10));
  for (let i = 0; i < 2_000; i++) instants.push(Date.UTC(2026, 0, 1) + Math.floor(next() * 3e7) * 1000);
  for (let i = 0; i < 20_000; i++) instants.push(Math.floor((next() * 2 - 1) * 8.64e15));
  for (let i = 0; i < 2_000; i++) instants.push((next() * 2 - 1) * 1e14);

  it("formatPayloadTimestamp", () => {
    const wrong = instants.filter((ms) => formatPayloadTimestamp(ms) !== referencePayloadTimestamp(ms));
    expect(wrong).toEqual([]);
  });

  it("formatMillisTimestamp", () => {
    const wrong = instants.filter((ms) => formatMillisTimestamp(ms) !== referenceMillisTimestamp(ms));
    expect(wrong).toEqual([]);
  });
});

describe("encodeMsgspecJson objects", () => {
  it("lists own enumerable members in for…in order and skips undefined ones", () => {
    const proto = { inherited: 1 };
    const o = Object.create(proto) as Record<string, unknown>;
    o.b = 1;
    o["2"] = "two";
    o.a = undefined;
    o["1"] = true;
    Object.defineProperty(o, "hidden", { value: 3, enumerable: false });
    expect(encodeMsgspecJson(o)).toBe('{"1":true,"2":"two","b":1.0}');
    expect(encodeMsgspecJson({ a: undefined, b: undefined })).toBe("{}");
    expect(encodeMsgspecJson({ a: undefined, b: { c: [1, { d: null }] } })).toBe('{"b":{"c":[1.0,{"d":null}]}}');
    expect(encodeMsgspecJson(new Map<unknown, unknown>([[17, 1], ["x", undefined], [13, "é\"\n"]]))).toBe('{"17":1.0,"13":"é\\"\\n"}');
  });
});
