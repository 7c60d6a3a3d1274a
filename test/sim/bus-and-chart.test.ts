/** The in-process bus's topic matching and retained store, and the chart's axes and series. */
import { renderChartSvg, reduceForWidth } from "../../src/sim/chart-svg";
import { InProcessBus } from "../../src/sim/in-process-bus";
import { TopicIndex } from "../../src/sim/topic-index";

const flush = () => new Promise((r) => setImmediate(r));

test("topic index matches + and # as MQTT does, never $ topics by wildcard at the first level", () => {
  const idx = new TopicIndex<string>();
  for (const f of ["a/+/c", "a/#", "#", "+/b/c", "a/b/c", "$SYS/#"]) idx.add(f, f);
  expect([...idx.match("a/b/c")].sort()).toEqual(["#", "+/b/c", "a/#", "a/+/c", "a/b/c"]);
  expect([...idx.match("a")].sort()).toEqual(["#", "a/#"]);
  expect([...idx.match("$SYS/x")]).toEqual(["$SYS/#"]);
  idx.remove("a/#", "a/#");
  expect(idx.match("a/x").includes("a/#")).toBe(false);
  // Matches remembered for a topic are forgotten when the subscriptions change.
  expect([...idx.match("a/b/c")].sort()).toEqual(["#", "+/b/c", "a/+/c", "a/b/c"]);
  idx.add("a/b/+", "a/b/+");
  expect([...idx.match("a/b/c")].sort()).toEqual(["#", "+/b/c", "a/+/c", "a/b/+", "a/b/c"]);
});

test("an entry subscribed with several matching filters is matched once", () => {
  const idx = new TopicIndex<string>();
  for (const f of ["u/+", "u/#", "u/x"]) idx.add(f, "one subscriber");
  expect(idx.match("u/x")).toEqual(["one subscriber"]);
  expect(idx.match("u/x")).toEqual(["one subscriber"]);
});

test("bus delivers live and retained messages asynchronously; an empty retained publish clears", async () => {
  const bus = new InProcessBus();
  const a = bus.connect({ clientIdBase: "a" });
  const got: string[] = [];
  await a.publish("pioreactor/u/e/job/x", "1", { retain: true });
  const subscribed = a.subscribe("pioreactor/+/e/job/#", (m) => got.push(`${m.topic.split("/").pop()}=${m.payload}${m.retain ? " (retained)" : ""}`));
  expect(got).toEqual([]); // never inside the subscribe call itself
  await subscribed;
  await flush();
  await a.publish("pioreactor/u/e/job/y", "2");
  await flush();
  expect(got).toEqual(["x=1 (retained)", "y=2"]);
  await a.publish("pioreactor/u/e/job/x", "", { retain: true });
  expect(bus.retainedValue("pioreactor/u/e/job/x")).toBeUndefined();
});

test("the chart keeps every extreme when it thins a long series, and draws axes and legends", () => {
  const pts: Array<[number, number]> = Array.from({ length: 100_000 }, (_, i) => [i * 1000, i === 51_234 ? 9 : Math.sin(i / 500)]);
  const thin = reduceForWidth(pts, 0, 100_000_000, 500);
  expect(thin.length).toBeLessThanOrEqual(2000);
  expect(Math.max(...thin.map((p) => p[1]))).toBe(9);
  const svg = renderChartSvg({ title: "t <&>", startMs: 0, endMs: 100_000_000, panels: [{ title: "p", yLabel: "y", series: [{ label: "s", color: "#000", points: pts }] }] });
  expect(svg).toContain("t &lt;&amp;&gt;");
  expect(svg).toMatch(/data-points="\d{3,}"/);
  expect(svg).toContain("Hours since the profile started");
});
