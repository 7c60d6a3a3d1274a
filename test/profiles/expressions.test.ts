// biome-ignore-all lint/suspicious/noTemplateCurlyInString: profile expressions are written ${{ … }}
import {
  checkExpressionSyntax,
  convertString,
  decodeJsonPayload,
  type EvaluationContext,
  evaluateBoolExpression,
  evaluateExpression,
  evaluateOptions,
  ExpressionError,
  isBracketedExpression,
  type LookupPort,
  ParseMemo,
  parseExpression,
  printCanonical,
  PyInt,
  type PyValue,
  pyRepr,
  pyStr,
  renderLogMessage,
  tokenize,
} from "../../src/profiles/expressions";

const ctx = (env: Record<string, PyValue> = {}, extra: Partial<EvaluationContext> = {}): EvaluationContext => ({
  env: { unit: "unit1", experiment: "exp1", job_name: "stirring", ...env },
  ...extra,
});

async function evalStr(text: string, c: EvaluationContext = ctx()): Promise<string> {
  return pyRepr(await evaluateExpression(text, c));
}

async function errorOf(text: string, c: EvaluationContext = ctx()): Promise<[string, string]> {
  try {
    await evaluateExpression(text, c);
  } catch (e) {
    if (e instanceof ExpressionError) return [e.pyType, e.message];
    throw e;
  }
  throw new Error(`no error for ${text}`);
}

describe("lexer", () => {
  test("first matching rule wins, in the original's order", () => {
    expect(tokenize("unit1:stirring:target_rpm").map((t) => t.kind)).toEqual(["LOOKUP"]);
    expect(tokenize("::stirring:$state == ready").map((t) => t.kind)).toEqual(["COMMON_LOOKUP", "==", "NAME"]);
    expect(tokenize("unit():od_reading:od1.od").map((t) => t.kind)).toEqual(["LOOKUP"]);
    expect(tokenize("random() and AND").map((t) => t.kind)).toEqual(["FUNCTION", "AND", "NAME"]);
    expect(tokenize("1.5.3").map((t) => t.text)).toEqual(["1.5", ".3"]);
    expect(tokenize("-1").map((t) => t.kind)).toEqual(["-", "NUMBER"]);
  });
  test("illegal characters give the original's LexError text", () => {
    expect(() => tokenize("1 != 2")).toThrow("Illegal character '!' at index 2");
    expect(() => tokenize("a\nb")).toThrow("Illegal character '\\n' at index 1");
  });
});

describe("original precedence model (profiles spec §5.3 table)", () => {
  const table: Array<[string, string]> = [
    ["-1 + 2", "-3.0"],
    ["-1 + 2 > 0", "False"],
    ["- 3 * 2 + 10", "-16.0"],
    ["2 ** -1 + 3", "0.0625"],
    ["-2 ** 2", "-4.0"],
    ["2 ** 3 ** 2", "512.0"],
    ["1 - -1", "2.0"],
    ["not 1 >= 2", "False"],
    ["1 + 1 >= 3", "False"],
    ["3 >= 1 and 2 <= 1", "True"],
    ["(3 >= 1) and (2 <= 1)", "False"],
    ["5 >= 3 and 0", "True"],
    ["2 >= 3 or 1", "False"],
    ["True or 1 >= 5", "False"],
    ["0 <= 1 <= 2", "True"],
    ["1 <= 2 == True", "False"],
    ["3 > 1 and 2 < 1", "False"],
    ["not 1 == 2", "True"],
    ["1 + not 0 + 1", "1.0"],
  ];
  test.each(table)("%s → %s", async (text, expected) => {
    expect(await evalStr(text, ctx({}, { precedence: "original" }))).toBe(expected);
  });
  test("non-associative comparisons are syntax errors", () => {
    expect(parseExpression("1 < 2 < 3", "original").ok).toBe(false);
    expect(parseExpression("1 == 1 == 1", "original").ok).toBe(false);
    expect(parseExpression("1 < 2 == 3", "original").ok).toBe(false);
  });
});

describe("Python precedence model (evaluation default)", () => {
  const table: Array<[string, string]> = [
    ["-1 + 2", "1.0"],
    ["2 ** -1 + 3", "3.5"],
    ["-2 ** 2", "-4.0"],
    ["2 ** 3 ** 2", "512.0"],
    ["3 >= 1 and 2 <= 1", "False"],
    ["not 1 >= 2", "True"],
    ["0 <= 5 <= 2", "False"],
    ["1 < 2 < 3", "True"],
    ["1 + 2 * 3", "7.0"],
    ["(1 + 2) * 3", "9.0"],
    ["1 + not 0 + 1", "1.0"],
  ];
  test.each(table)("%s → %s", async (text, expected) => {
    expect(await evalStr(text)).toBe(expected);
  });
  test("both models agree on fully parenthesised text", () => {
    for (const t of ["(3 >= 1) and (2 <= 1)", "(-1) + 2", "2 ** (-1) + 3", "-(2 ** 2)"]) {
      const a = parseExpression(t, "python");
      const b = parseExpression(t, "original");
      expect(a.ok && b.ok && printCanonical(a.expr) === printCanonical(b.expr)).toBe(true);
    }
  });
});

describe("values (profiles spec §5.4)", () => {
  const i = (n: number) => new PyInt(n);
  const table: Array<[string, Record<string, PyValue>, string]> = [
    ["1", {}, "1.0"],
    ["a + b", { a: i(2), b: i(3) }, "5"],
    ["a * b", { a: i(2), b: i(3) }, "6"],
    ["a - b", { a: i(2), b: i(3) }, "-1"],
    ["a / b", { a: i(6), b: i(3) }, "2.0"],
    ["a ** 2", { a: i(3) }, "9.0"],
    ["a ** b", { a: i(3), b: i(2) }, "9"],
    ["a ** b", { a: i(2), b: i(-1) }, "0.5"],
    ["a + 1", { a: i(2) }, "3.0"],
    ["True + True", {}, "2"],
    ["s + t", { s: "ab", t: "cd" }, "'abcd'"],
    ["s * n", { s: "ab", n: i(3) }, "'ababab'"],
    ["s * True", { s: "ab" }, "'ab'"],
    ["0 or 5", {}, "5.0"],
    ["3 and 4", {}, "4.0"],
    ["A and B", {}, "'B'"],
    ["0 and B", {}, "0.0"],
    ["not 0", {}, "True"],
    ["not s", { s: "" }, "True"],
    ["1 == True", {}, "True"],
    ["False == 0", {}, "True"],
    ["x == 1", { x: "1" }, "False"],
    ["a < b", { a: "apple", b: "banana" }, "True"],
    ["TRUE", {}, "True"],
    ["tRuE", {}, "True"],
    ["ready", {}, "'ready'"],
    ["unit", {}, "'unit1'"],
    ["unit()", {}, "'unit1'"],
    ["job_name() == stirring", {}, "True"],
    ["x", { x: [i(1), 2.5] }, "[1, 2.5]"],
    ["1 / 3", {}, "0.3333333333333333"],
    [".5 + 001", {}, "1.5"],
    ["-x", { x: 0 }, "-0.0"],
  ];
  test.each(table)("%s with %p → %s", async (text, env, expected) => {
    expect(await evalStr(text, ctx(env))).toBe(expected);
  });

  const errors: Array<[string, Record<string, PyValue>, string, string]> = [
    ["1 / 0", {}, "ZeroDivisionError", "Division by zero is not allowed."],
    ["1 / False", {}, "ZeroDivisionError", "Division by zero is not allowed."],
    ["1 / (0 - 0)", {}, "ZeroDivisionError", "Division by zero is not allowed."],
    ["0 ** -1", {}, "ZeroDivisionError", "0.0 cannot be raised to a negative power"],
    ["10 ** 400", {}, "OverflowError", "(34, 'Numerical result out of range')"],
    ["s * 2", { s: "ab" }, "TypeError", "can't multiply sequence by non-int of type 'float'"],
    ["s + 1", { s: "ab" }, "TypeError", 'can only concatenate str (not "float") to str'],
    ["1 + s", { s: "ab" }, "TypeError", "unsupported operand type(s) for +: 'float' and 'str'"],
    ["-s", { s: "ab" }, "TypeError", "bad operand type for unary -: 'str'"],
    ["1 < ready", {}, "TypeError", "'<' not supported between instances of 'float' and 'str'"],
    ["n > 1", { n: null }, "TypeError", "'>' not supported between instances of 'NoneType' and 'float'"],
    ["a >= 1", { a: [] }, "TypeError", "'>=' not supported between instances of 'list' and 'float'"],
    ["foo()", {}, "ValueError", "foo() is not a valid function in profile expressions."],
    ["s / 2", { s: "ab" }, "TypeError", "unsupported operand type(s) for /: 'str' and 'float'"],
  ];
  test.each(errors)("%s with %p raises %s", async (text, env, type, message) => {
    expect(await errorOf(text, ctx(env))).toEqual([type, message]);
  });
  test("int and float compare numerically", async () => {
    expect(await evalStr("a >= 1", ctx({ a: i(1) }))).toBe("True");
  });
  test("missing env key for a function is a KeyError with the bare key", async () => {
    expect(await errorOf("hours_elapsed()", { env: {} })).toEqual(["KeyError", "hours_elapsed"]);
  });
  test("random() uses the injected source", async () => {
    expect(await evalStr("random() * 2", ctx({}, { random: () => 0.25 }))).toBe("0.5");
  });
  test("str() and repr() follow Python", () => {
    expect(pyStr(400)).toBe("400.0");
    expect(pyStr(new PyInt(400))).toBe("400");
    expect(pyStr(1e-5)).toBe("1e-05");
    expect(pyRepr({ a: 2, b: "x", c: [true, null] })).toBe("{'a': 2.0, 'b': 'x', 'c': [True, None]}");
    expect(pyRepr("it's")).toBe(`"it's"`);
  });
});

describe("MQTT lookups (profiles spec §5.6)", () => {
  class FakeLookups implements LookupPort {
    readonly calls: string[] = [];
    constructor(private readonly topics: Record<string, string>) {}
    async get(unit: string, job: string, setting: string) {
      this.calls.push(`${unit}/${job}/${setting}`);
      return this.topics[`${unit}/${job}/${setting}`];
    }
  }
  const topics = {
    "unit1/stirring/target_rpm": "400",
    "unit1/stirring/target_rpm_f": "400.0",
    "unit1/stirring/$state": "ready",
    "unit1/od_reading/od1": '{"od": 0.52, "angle": "90", "nested": {"b": 1.5}, "count": 3}',
    "unit1/x/quoted": '"2.5"',
    "unit1/x/upper": "TRUE",
    "unit1/x/mixed": "1.5abc",
    "unit1/x/null": "null",
    "unit1/x/empty": "",
    "unit2/stirring/target_rpm": " 42 ",
  };
  const lookupCtx = () => ctx({}, { lookups: new FakeLookups(topics) });
  const table: Array<[string, string]> = [
    ["unit1:stirring:target_rpm", "400"],
    ["unit1:stirring:target_rpm_f", "400.0"],
    ["::stirring:target_rpm + 1", "401.0"],
    ["::stirring:$state == ready", "True"],
    ["unit():stirring:target_rpm", "400"],
    ["unit1:job_name():target_rpm", "400"],
    ["::od_reading:od1.od", "0.52"],
    ["::od_reading:od1.angle", "90.0"],
    ["::od_reading:od1.nested", "{'b': 1.5}"],
    ["::od_reading:od1.count", "3"],
    ["::x:quoted", "2.5"],
    ["::x:upper", "True"],
    ["::x:mixed", "'1.5abc'"],
    ["::x:mixed.ignored", "'1.5abc'"],
    ["::x:null", "None"],
    ["::x:empty", "''"],
    ["unit2:stirring:target_rpm", "42"], // JSON allows surrounding whitespace: an int
  ];
  test.each(table)("%s → %s", async (text, expected) => {
    expect(await evalStr(text, lookupCtx())).toBe(expected);
  });
  test("absent topic raises MQTTValueError with the original text", async () => {
    expect(await errorOf("::stirring:missing.key", lookupCtx())).toEqual([
      "MQTTValueError",
      "unit1:stirring:missing.key does not exist for experiment `exp1`",
    ]);
  });
  test("nested key errors", async () => {
    expect(await errorOf("::od_reading:od1.od.x", lookupCtx())).toEqual([
      "TypeError",
      "Expression lookup `unit1:od_reading:od1.od.x` attempted nested key access `x` on a non-mapping value of type `float`.",
    ]);
    expect(await errorOf("::od_reading:od1.missing", lookupCtx())).toEqual([
      "KeyError",
      "Expression lookup `unit1:od_reading:od1.missing` referenced missing nested key `missing`. Available keys: [od, angle, nested, count]",
    ]);
  });
  test("too many segments", async () => {
    expect(await errorOf("a:b:c:d", lookupCtx())).toEqual(["ValueError", "too many values to unpack (expected 3)"]);
  });
  test("both operands of or are evaluated, as in the original", async () => {
    const c = lookupCtx();
    await expect(evaluateExpression("true or ::nope:x", c)).rejects.toThrow("does not exist");
  });
});

describe("brackets, options, log messages", () => {
  test("strict bracket recognition follows Python's regex", () => {
    expect(isBracketedExpression("${{ 1 + 1 }}")).toBe(true);
    expect(isBracketedExpression("${{ 1 + 1 }}\n")).toBe(true);
    expect(isBracketedExpression("${{ 1 + 1 }}\n\n")).toBe(false);
    expect(isBracketedExpression("x ${{ 1 }}")).toBe(false);
    expect(isBracketedExpression(400)).toBe(false);
  });
  test("options: only bracketed values are evaluated", async () => {
    expect(await evaluateOptions({ a: "${{ 1 + 1 }}", b: "1.0 + 1.0", c: new PyInt(3) }, ctx())).toEqual({
      a: 2,
      b: "1.0 + 1.0",
      c: new PyInt(3),
    });
  });
  test("log messages render every embedded expression with str()", async () => {
    expect(await renderLogMessage("unit ${{unit()}} at ${{ 1 + 1 }} and ${{ x }}", ctx({ x: new PyInt(5) }))).toBe(
      "unit unit1 at 2.0 and 5",
    );
  });
  test("bool expressions accept bools, bare and bracketed strings", async () => {
    expect(await evaluateBoolExpression(true, ctx())).toBe(true);
    expect(await evaluateBoolExpression("1 > 0", ctx())).toBe(true);
    expect(await evaluateBoolExpression("${{ 1 > 2 }}", ctx())).toBe(false);
  });
  test("an unparsable bool expression raises SyntaxError(<expr>) like the original", async () => {
    await expect(evaluateBoolExpression("a::b:c", ctx())).rejects.toMatchObject({ pyType: "SyntaxError", message: "a::b:c" });
  });
});

describe("payload decoding", () => {
  test("JSON keeps ints and floats apart", () => {
    expect(decodeJsonPayload("101")).toEqual(new PyInt(101));
    expect(decodeJsonPayload("101.0")).toBe(101);
    expect(decodeJsonPayload('{"a": [1, 2.5e0, true, null]}')).toEqual({ a: [new PyInt(1), 2.5, true, null] });
    expect(() => decodeJsonPayload("hi")).toThrow();
    expect(() => decodeJsonPayload("NaN")).toThrow();
  });
  test("convert_string follows Python float()", () => {
    expect(convertString(" 42 ")).toBe(42);
    expect(convertString("1e3")).toBe(1000);
    expect(convertString("1_0")).toBe(10);
    expect(Number.isNaN(convertString("nan") as number)).toBe(true);
    expect(convertString("-inf")).toBe(Number.NEGATIVE_INFINITY);
    expect(convertString("False")).toBe(false);
    expect(convertString("1_")).toBe("1_");
  });
});

describe("static syntax checks", () => {
  test("the original's verdicts and messages", () => {
    expect(checkExpressionSyntax(true)).toEqual({});
    expect(checkExpressionSyntax("1 +").error?.message).toBe("Syntax error in expression.");
    expect(checkExpressionSyntax('::stirring:$state == "ready"').error?.message).toBe(
      'Quoted string literals are not supported in profile expressions. Found "ready".',
    );
    expect(checkExpressionSyntax("unit ()").error?.message).toBe("Syntax error in expression.");
    expect(checkExpressionSyntax("${{ ::od_reading:od1.od > 0.5 }}")).toEqual({});
    expect(checkExpressionSyntax("pio-dev-01:stirring:x").error).toBeDefined();
  });
  test("a::b:c is reported although the original lets it through", () => {
    expect(checkExpressionSyntax("a::b:c").error?.message).toBe("Syntax error in expression.");
  });
  test("chains the original rejects get a rewrite hint", () => {
    expect(checkExpressionSyntax("1 < x < 3").error?.hint).toContain("`(1 < x) and (x < 3)`");
  });
  test("precedence differences give a warning with a parenthesised rewrite", () => {
    const w = checkExpressionSyntax("3 >= 1 and 2 <= 1").precedence;
    expect(w?.message).toContain("`3 >= ((1 and 2) <= 1)`");
    expect(w?.hint).toBe("Add parentheses so both read it the same: `(3 >= 1) and (2 <= 1)`.");
    expect(checkExpressionSyntax("-1 + 2").precedence?.hint).toContain("`(-1) + 2`");
    expect(checkExpressionSyntax("0 <= x <= 2").precedence?.hint).toContain("`(0 <= x) and (x <= 2)`");
    expect(checkExpressionSyntax("(3 >= 1) and (2 <= 1)").precedence).toBeUndefined();
    expect(checkExpressionSyntax("::od:od1.od > 0.5 and ::st:rpm < 500").precedence).toBeUndefined();
  });
});

describe("ParseMemo (one per run)", () => {
  test("parses each text once per model and gives the same answers as parsing afresh", async () => {
    const memo = new ParseMemo();
    expect(memo.parse("1 + 2 * x", "python")).toBe(memo.parse("1 + 2 * x", "python"));
    expect(memo.parse("1 + 2 * x", "original")).not.toBe(memo.parse("1 + 2 * x", "python"));
    expect(memo.parse("1 + 2 * x", "original")).toEqual(parseExpression("1 + 2 * x", "original"));
    const withMemo = ctx({ x: new PyInt(5) }, { memo });
    for (const text of ["1 + 2 * x", "x > 3 and unit() == unit1", "-x ** 2", "1 <"]) {
      const fresh = await evaluateExpression(text, ctx({ x: new PyInt(5) })).catch((e: Error) => e.message);
      expect(await evaluateExpression(text, withMemo).catch((e: Error) => e.message)).toEqual(fresh);
      expect(await evaluateExpression(text, withMemo).catch((e: Error) => e.message)).toEqual(fresh);
    }
    await expect(evaluateBoolExpression("1 $ 2", withMemo)).rejects.toThrow();
  });

  test("log templates: found once, rendered with each call's values", async () => {
    const memo = new ParseMemo();
    const message = "tick ${{ x }} on ${{unit()}}";
    expect(memo.embedded(message)).toBe(memo.embedded(message));
    expect(await renderLogMessage(message, ctx({ x: new PyInt(1) }, { memo }))).toBe("tick 1 on unit1");
    expect(await renderLogMessage(message, ctx({ x: new PyInt(2) }, { memo }))).toBe("tick 2 on unit1");
  });
});
