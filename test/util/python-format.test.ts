import {
  formatMillisTimestamp,
  formatPayloadTimestamp,
  formatPyFloat,
  formatPyScalar,
  pyInt,
  pythonJsonDumps,
} from "../../src/util/python-format";

describe("formatPyFloat matches Python's repr(float)", () => {
  const cases: Array<[number, string]> = [
    [500, "500.0"],
    [0.25, "0.25"],
    [1e-5, "1e-05"],
    [0.0001, "0.0001"],
    [1e16, "1e+16"],
    [1e15, "1000000000000000.0"],
    [123456789012345680000, "1.2345678901234568e+20"],
    [29.5025, "29.5025"],
    [-0.4975, "-0.4975"],
    [1795239838.3595579, "1795239838.3595579"],
    [0.1 + 0.2, "0.30000000000000004"],
    // the edges of the positional fast path
    [9.999999999999999e-5, "9.999999999999999e-05"],
    [-1e-4, "-0.0001"],
    [9999999999999998, "9999999999999998.0"],
    [1 / 60, "0.016666666666666666"],
    [-123, "-123.0"],
    [-0, "-0.0"],
    [2.5e-7, "2.5e-07"],
    [Number.NaN, "nan"],
    [Number.POSITIVE_INFINITY, "inf"],
  ];
  test.each(cases)("%p -> %s", (n, expected) => {
    expect(formatPyFloat(n)).toBe(expected);
  });
});

test("scalars print as Python's str()", () => {
  expect(formatPyScalar(true)).toBe("True");
  expect(formatPyScalar(false)).toBe("False");
  expect(formatPyScalar(pyInt(100))).toBe("100");
  expect(formatPyScalar(100)).toBe("100.0");
  expect(formatPyScalar(100, { intIfWhole: true })).toBe("100");
  expect(formatPyScalar(null)).toBe("None");
  expect(formatPyScalar("ready")).toBe("ready");
});

test("timestamps: 6-digit microseconds in payloads, 3-digit milliseconds in logs", () => {
  const t = Date.UTC(2026, 10, 21, 5, 42, 30, 730);
  expect(formatPayloadTimestamp(t)).toBe("2026-11-21T05:42:30.730000Z");
  expect(formatPayloadTimestamp(Date.UTC(2026, 10, 21, 5, 42, 30, 0))).toBe("2026-11-21T05:42:30Z");
  expect(formatMillisTimestamp(t)).toBe("2026-11-21T05:42:30.730Z");
  expect(formatMillisTimestamp(Date.UTC(2026, 10, 21, 5, 42, 30, 0))).toBe("2026-11-21T05:42:30.000Z");
});

test("json.dumps with Python separators, as pwms/dc is published", () => {
  expect(pythonJsonDumps({ "17": 30 })).toBe('{"17": 30.0}');
  expect(pythonJsonDumps(new Map<string, unknown>([["17", pyInt(100)], ["13", 29.5025]]))).toBe('{"17": 100, "13": 29.5025}');
  expect(pythonJsonDumps({})).toBe("{}");
  expect(pythonJsonDumps({ m: "30 ℃" }, { compact: true })).toBe('{"m":"30 \\u2103"}');
});
