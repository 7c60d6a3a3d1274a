import { checkTimeField, hoursToSeconds, timeToMs, timeToSeconds } from "../../src/profiles/time";
import { PyInt } from "../../src/util/python-format";

describe("time values (profiles spec §3)", () => {
  test.each([
    [0.001, 3.5999999999999996],
    [0.0005, 1.7999999999999998],
    [0.01666667, 60.000012000000005],
    [1, 3600],
    [0.5, 1800],
  ])("%p hours → %p s (two multiplications)", (h, s) => {
    expect(timeToSeconds(h)).toBe(s);
  });
  test.each([
    ["0.001h", 3.6],
    ["30s", 30],
    ["2m", 120],
    ["1.5h", 5400],
    ["2d", 172800],
    [".5h", 1800],
    ["1.5H", 5400],
    [" 2m ", 120],
  ])("%p → %p s (one multiplication)", (lit, s) => {
    expect(timeToSeconds(lit)).toBe(s);
  });
  test.each(["1 h", "5", "10x", "bad", "-5m", "5.", "1e3s", "+1s", ""])("%p is rejected with the original text", (lit) => {
    expect(() => timeToSeconds(lit)).toThrow(
      `Invalid time literal '${lit}'. Expected float hours or string like '10s', '15m', '1.5h', '2d'.`,
    );
  });
  test("ints count as hours", () => {
    expect(timeToSeconds(new PyInt(2))).toBe(7200);
    expect(hoursToSeconds(2)).toBe(7200);
    expect(timeToMs("1.5s")).toBe(1500);
  });
  test("validator checks", () => {
    expect(checkTimeField("t", -1, false)).toEqual({ ok: false, code: "time.negative", message: "`t` cannot be negative." });
    expect(checkTimeField("every", "0s", true)).toEqual({
      ok: false,
      code: "time.non_positive",
      message: "`every` must be greater than zero.",
    });
    expect(checkTimeField("t", 0, false)).toEqual({ ok: true, seconds: 0 });
    expect(checkTimeField("t", "x", false)).toMatchObject({ ok: false, code: "time.invalid" });
  });
});
