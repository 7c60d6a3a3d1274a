import {
  decodePublishedValue,
  decodeSetPayload,
  encodeMsgspecJson,
  encodeSettingPayload,
  encodeSettingValue,
  formatMsgspecFloat,
  pythonBytesRepr,
  SetPayloadError,
} from "../../src/pubsub/codec";
import { pyInt } from "../../src/util/python-format";

const text = (b: Buffer) => b.toString("utf8");

describe("encodeSettingValue: bytes as in the captures", () => {
  test.each([
    // 01_stirring_start / 02_stirring_set
    [500, "float", "500.0"],
    [400.5, "float", "400.5"],
    [300, "float", "300.0"],
    [pyInt(100), "float", "100"],
    [30, "float", "30.0"],
    [29.5025, "float", "29.5025"],
    [0, "float", "0.0"],
    [false, "boolean", "False"],
    [true, "boolean", "True"],
    ["ready", "string", "ready"],
    [6, "integer", "6"],
    [1e-5, "float", "1e-05"],
    [0.25, "float", "0.25"],
    ["pyref_stirring.yaml", "string", "pyref_stirring.yaml"],
  ])("%p as %s → %s", (value, datatype, expected) => {
    expect(text(encodeSettingValue(value, datatype))).toBe(expected);
  });

  test("encodeSettingPayload is the same payload as text (binary values stay bytes)", () => {
    const values: Array<[unknown, string]> = [
      [500, "float"],
      [pyInt(100), "float"],
      [6, "integer"],
      [true, "boolean"],
      ["réacteur ✓", "string"],
      [{ od: 0.5, nested: [1, { a: "é" }] }, "json"],
      [10n, "integer"],
      [null, "float"],
      [undefined, "json"],
    ];
    for (const [value, datatype] of values) {
      const payload = encodeSettingPayload(value, datatype);
      expect(typeof payload).toBe("string");
      expect(Buffer.from(payload as string, "utf8").equals(encodeSettingValue(value, datatype))).toBe(true);
    }
    expect(encodeSettingPayload(null)).toBe("");
    const bytes = Buffer.from([0, 255]);
    expect(encodeSettingPayload(bytes)).toBe(bytes);
    expect(encodeSettingValue(new Uint8Array([1, 2]))).toEqual(Buffer.from([1, 2]));
  });

  test("null and undefined clear the retained value (zero-length payload)", () => {
    expect(encodeSettingValue(null, "float").length).toBe(0);
    expect(encodeSettingValue(undefined, "json").length).toBe(0);
  });

  test("MeasuredRPM struct: floats keep .0, PyInt-marked ints do not, timestamps are strings", () => {
    expect(text(encodeSettingValue({ measured_rpm: 500, timestamp: "2026-11-21T05:42:30.730000Z" }, "MeasuredRPM"))).toBe(
      '{"measured_rpm":500.0,"timestamp":"2026-11-21T05:42:30.730000Z"}',
    );
    expect(text(encodeSettingValue({ measured_rpm: pyInt(0), timestamp: "2026-11-21T05:42:49.122000Z" }, "MeasuredRPM"))).toBe(
      '{"measured_rpm":0,"timestamp":"2026-11-21T05:42:49.122000Z"}',
    );
  });

  test("pid_log and assignment JSON match the capture byte for byte", () => {
    const pid = {
      setpoint: 400.5,
      output_limits_lb: -7.5,
      output_limits_ub: 7.5,
      Kd: 0,
      Ki: 0,
      Kp: 0.005,
      integral: -0,
      proportional: -0.4975,
      derivative: 0,
      latest_input: 500,
      latest_output: -0.4975,
      job_name: "stirring",
      target_name: "rpm",
    };
    expect(encodeMsgspecJson(pid)).toBe(
      '{"setpoint":400.5,"output_limits_lb":-7.5,"output_limits_ub":7.5,"Kd":0.0,"Ki":0.0,"Kp":0.005,"integral":-0.0,"proportional":-0.4975,"derivative":0.0,"latest_input":500.0,"latest_output":-0.4975,"job_name":"stirring","target_name":"rpm"}',
    );
    expect(encodeMsgspecJson({ A: 0, B: 0, C: 0, D: 0 })).toBe('{"A":0.0,"B":0.0,"C":0.0,"D":0.0}');
  });

  test("msgspec JSON: raw UTF-8, Map key order, null for NaN, base64 bytes, Dates", () => {
    expect(encodeMsgspecJson({ unit: "℃", quote: 'a"b\n' })).toBe('{"unit":"℃","quote":"a\\"b\\n"}');
    expect(encodeMsgspecJson(new Map<string, unknown>([["17", 30], ["13", pyInt(2)]]))).toBe('{"17":30.0,"13":2}');
    expect(encodeMsgspecJson([Number.NaN, Number.POSITIVE_INFINITY, null, true])).toBe("[null,null,null,true]");
    expect(encodeMsgspecJson({ b: Buffer.from("hi") })).toBe('{"b":"aGk="}');
    expect(encodeMsgspecJson({ t: new Date(Date.UTC(2026, 10, 21, 5, 42, 30, 730)) })).toBe('{"t":"2026-11-21T05:42:30.730000Z"}');
    expect(encodeMsgspecJson({ skipped: undefined, kept: null })).toBe('{"kept":null}');
  });

  test.each([
    [1e-5, "0.00001"],
    [1e-6, "1e-6"],
    [1.5e-7, "1.5e-7"],
    [1e15, "1000000000000000.0"],
    [1e16, "1e16"],
    [1e17, "1e17"],
    [1.25e20, "1.25e20"],
    [123.456, "123.456"],
    [-2, "-2.0"],
  ])("msgspec float %p → %s", (n, expected) => {
    expect(formatMsgspecFloat(n)).toBe(expected);
  });

  test("msgspec floats agree with the digit-by-digit rule across magnitudes and near the switch points", () => {
    // msgspec's rule spelled out from the shortest digits, as the oracle for the fast path.
    const byDigits = (n: number): string => {
      const sign = n < 0 ? "-" : "";
      const [mantissa, expText] = Math.abs(n).toExponential().split("e");
      const digits = mantissa.replace(".", "");
      const pointAt = Number(expText) + 1;
      if (pointAt >= digits.length && pointAt <= 16) return `${sign}${digits}${"0".repeat(pointAt - digits.length)}.0`;
      if (pointAt > 0 && pointAt <= 16) return `${sign}${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
      if (pointAt > -5 && pointAt <= 0) return `${sign}0.${"0".repeat(-pointAt)}${digits}`;
      const exponent = `e${pointAt - 1}`;
      return digits.length === 1 ? `${sign}${digits}${exponent}` : `${sign}${digits[0]}.${digits.slice(1)}${exponent}`;
    };
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const values: number[] = [];
    for (let e = -30; e <= 30; e++) {
      for (let i = 0; i < 200; i++) values.push((random() < 0.5 ? -1 : 1) * random() * 10 ** e);
      values.push(10 ** e, -(10 ** e), Math.round(random() * 1000) * 10 ** e);
    }
    for (const edge of [1e-5, 1e16]) values.push(edge, edge * (1 - Number.EPSILON), edge * (1 + Number.EPSILON), -edge);
    for (const n of values) {
      if (n === 0) continue;
      const got = formatMsgspecFloat(n);
      if (got !== byDigits(n)) throw new Error(`formatMsgspecFloat(${n}) = ${got}, msgspec writes ${byDigits(n)}`);
    }
    expect(values.length).toBeGreaterThan(12_000);
  });
});

describe("decodeSetPayload: the original's cast_bytes_to_type", () => {
  const b = (s: string) => Buffer.from(s, "utf8");

  test.each([
    ["300", 300],
    ["400.5", 400.5],
    ["  1.5 ", 1.5],
    ["1e3", 1000],
    ["1_000", 1000],
    ["-.5", -0.5],
    ["1.", 1],
    ["+inf", Number.POSITIVE_INFINITY],
    ["-Infinity", Number.NEGATIVE_INFINITY],
  ])("float(%p) = %p", (payload, expected) => {
    expect(decodeSetPayload(b(payload), "float")).toBe(expected);
  });

  test("float('nan') is NaN", () => {
    expect(decodeSetPayload(b("NaN"), "float")).toBeNaN();
  });

  test("a bad float carries Python's exact message", () => {
    expect(() => decodeSetPayload(b("notanumber"), "float")).toThrow(
      new SetPayloadError("could not convert string to float: b'notanumber'", "float"),
    );
    for (const bad of ["", "1__0", "_1", "1_", "1e", ".", "0x10"]) {
      expect(() => decodeSetPayload(b(bad), "float")).toThrow(`could not convert string to float: b'${bad}'`);
    }
  });

  test("integers follow int()", () => {
    expect(decodeSetPayload(b(" 42\n"), "integer")).toBe(42);
    expect(decodeSetPayload(b("007"), "integer")).toBe(7);
    expect(decodeSetPayload(b("-1_000"), "integer")).toBe(-1000);
    expect(() => decodeSetPayload(b("x"), "integer")).toThrow("invalid literal for int() with base 10: b'x'");
    expect(() => decodeSetPayload(b("1.5"), "integer")).toThrow("invalid literal for int() with base 10: b'1.5'");
  });

  test("booleans are true only for true/1/y/on/yes/t, any case", () => {
    for (const t of ["true", "True", "1", "y", "ON", "yes", "t"]) expect(decodeSetPayload(b(t), "boolean")).toBe(true);
    for (const f of ["false", "0", "no", "", "2", "truee", " true"]) expect(decodeSetPayload(b(f), "boolean")).toBe(false);
  });

  test("strings, JSON and unknown datatypes", () => {
    expect(decodeSetPayload(b("℃ ok"), "string")).toBe("℃ ok");
    expect(decodeSetPayload(b('{"app":"26.7.2"}'), "json")).toEqual({ app: "26.7.2" });
    expect(() => decodeSetPayload(b("{oops"), "json")).toThrow(/JSON is malformed/);
    expect(() => decodeSetPayload(b("1"), "MeasuredRPM")).toThrow("MeasuredRPM not found.");
    expect(() => decodeSetPayload(Buffer.from([0x61, 0xff]), "string")).toThrow(
      "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte",
    );
  });

  test("bytes repr follows Python's quoting and escapes", () => {
    expect(pythonBytesRepr(Buffer.from("it's"))).toBe(`b"it's"`);
    expect(pythonBytesRepr(Buffer.from(`a'b"c`))).toBe(`b'a\\'b"c'`);
    expect(pythonBytesRepr(Buffer.from([0x09, 0x0a, 0x5c, 0x00, 0xe2, 0x84, 0x83]))).toBe("b'\\t\\n\\\\\\x00\\xe2\\x84\\x83'");
  });
});

describe("decodePublishedValue: reading what Python units publish", () => {
  const b = (s: string) => Buffer.from(s, "utf8");
  test("by datatype", () => {
    expect(decodePublishedValue(b("True"), "boolean")).toBe(true);
    expect(decodePublishedValue(b("False"), "boolean")).toBe(false);
    expect(decodePublishedValue(b("100"), "float")).toBe(100);
    expect(decodePublishedValue(b('{"measured_rpm":0,"timestamp":"x"}'), "MeasuredRPM")).toEqual({ measured_rpm: 0, timestamp: "x" });
    expect(decodePublishedValue(Buffer.alloc(0), "float")).toBeNull();
    expect(decodePublishedValue(b("garbage"), "json")).toBe("garbage");
  });
  test("sniffed", () => {
    expect(decodePublishedValue(b("False"))).toBe(false);
    expect(decodePublishedValue(b("29.5025"))).toBe(29.5025);
    expect(decodePublishedValue(b('{"17": 30.0}'))).toEqual({ "17": 30 });
    expect(decodePublishedValue(b("ready"))).toBe("ready");
    expect(decodePublishedValue(Buffer.alloc(0))).toBeNull();
  });
});
