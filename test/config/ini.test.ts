import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { ConfigError } from "../../src/config/types";

/** A single file's own view (no derived sections), read the way configparser reads it. */
function read(text: string): LayeredConfig {
  return LayeredConfig.fromLayers([{ source: "global", document: IniDocument.parse(text, { file: "config.ini" }) }], {
    derived: false,
  });
}

function parseError(text: string, file = "config.ini"): ConfigError {
  try {
    IniDocument.parse(text, { file });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a parse error");
}

/** Lines that differ between two texts (same line count assumed by callers that care). */
function changedLines(before: string, after: string): { before: string[]; after: string[] } {
  const a = before.split("\n");
  const b = after.split("\n");
  return { before: a.filter((l, i) => b[i] !== l), after: b.filter((l, i) => a[i] !== l) };
}

// Expected values below were checked against Python's configparser (strict=False,
// allow_no_value=True, optionxform=str), the parser the original uses.
describe("configparser parity", () => {
  test("BasicInterpolation expands %(key)s from the same section and from DEFAULT, recursively", () => {
    const c = read("[DEFAULT]\nroot=/home/pioreactor\n[storage]\ndir=%(root)s/.pioreactor\ndb=%(dir)s/storage/db.sqlite\n");
    expect(c.get("storage", "dir")).toBe("/home/pioreactor/.pioreactor");
    expect(c.get("storage", "db")).toBe("/home/pioreactor/.pioreactor/storage/db.sqlite");
  });

  test("%% is a literal percent sign", () => {
    expect(read("[a]\nduty=50%%\n").get("a", "duty")).toBe("50%");
  });

  test("a lone % is an error naming section and key", () => {
    const c = read("[od_reading.config]\nir_led_intensity=80%\n");
    expect(() => c.get("od_reading.config", "ir_led_intensity")).toThrow(ConfigError);
    expect(() => c.get("od_reading.config", "ir_led_intensity")).toThrow(
      /config\.ini:2: \[od_reading\.config\] ir_led_intensity: '%' must be followed by '%' or '\('.*%%/,
    );
  });

  test("a reference to a missing key is a clear error", () => {
    const c = read("[a]\nx=%(nope)s\n");
    expect(() => c.get("a", "x")).toThrow(/\[a\] x: value "%\(nope\)s" refers to %\(nope\)s, but neither \[a\] nor \[DEFAULT\] has a key "nope"/);
  });

  test("a circular reference stops at configparser's depth limit", () => {
    const c = read("[a]\nx=%(y)s\ny=%(x)s\n");
    expect(() => c.get("a", "x")).toThrow(/deeper than 10 levels/);
  });

  test("duplicate keys and duplicate sections merge, last value wins, first position kept", () => {
    const c = read("[a]\nx=1\ny=2\nx=3\n[b]\nz=1\n[a]\nx=4\nw=5\n");
    expect(c.get("a", "x")).toBe("4");
    expect(c.sections()).toEqual(["a", "b"]);
    expect(Object.keys(c.section("a")!)).toEqual(["x", "y", "w"]);
  });

  test("keys without a value are null and present", () => {
    const c = read("[flags]\nverbose\nlevel=2\n");
    expect(c.get("flags", "verbose")).toBeNull();
    expect(c.has("flags", "verbose")).toBe(true);
    expect(c.get("flags", "absent")).toBeUndefined();
  });

  test("indented continuation lines join with \\n; inner blank lines stay, trailing ones go; comments are skipped", () => {
    const c = read("[a]\nmulti=first\n  second\n\n  # a comment inside\n  third\n\n\nnext=1\n");
    expect(c.get("a", "multi")).toBe("first\nsecond\n\nthird");
    expect(c.get("a", "next")).toBe("1");
  });

  test("an indented line after a blank line still continues the value (empty_lines_in_values)", () => {
    expect(read("[a]\nx=1\n\n  y=2\n").get("a", "x")).toBe("1\n\ny=2");
  });

  test("inline ; and # are part of the value; only whole-line comments are comments", () => {
    const c = read("[a]\n; full comment\n  # indented full comment\nk=v ; not a comment\nh=v # neither\n");
    expect(c.get("a", "k")).toBe("v ; not a comment");
    expect(c.get("a", "h")).toBe("v # neither");
    expect(Object.keys(c.section("a")!)).toEqual(["k", "h"]);
  });

  test("keys are case-sensitive", () => {
    const c = read("[pid]\nKp=1\nkp=2\n");
    expect(c.get("pid", "Kp")).toBe("1");
    expect(c.get("pid", "kp")).toBe("2");
    expect(c.get("pid", "KP")).toBeUndefined();
  });

  test("':' is a delimiter too, and the first delimiter on the line splits key from value", () => {
    const c = read("[a]\nx : y = z\nurl=http://host:80\nk = spaced  \n");
    expect(c.get("a", "x")).toBe("y = z");
    expect(c.get("a", "url")).toBe("http://host:80");
    expect(c.get("a", "k")).toBe("spaced");
  });

  test("section headers: surrounding text after ']' is ignored, the last ']' closes, DEFAULT is not a section", () => {
    const c = read("[a] trailing\nx=1\n[b]]\ny=2\n[DEFAULT]\nd=3\n");
    expect(c.sections()).toEqual(["a", "b]"]);
    expect(c.get("a", "d")).toBe("3");
    expect(c.hasSection("DEFAULT")).toBe(false);
  });

  test("DEFAULT keys appear after a section's own keys", () => {
    expect(Object.keys(read("[DEFAULT]\nd=0\n[a]\nx=1\nd=2\ny=3\n").section("a")!)).toEqual(["x", "d", "y"]);
  });
});

describe("malformed files", () => {
  test("a key before any section header names the file and line", () => {
    const e = parseError("# leading comment\n\nkey=value\n[a]\n", "/etc/x/config.ini");
    expect(e.message).toMatch(/^\/etc\/x\/config\.ini:3: "key=value" comes before any \[section\] header/);
    expect(e.file).toBe("/etc/x/config.ini");
    expect(e.line).toBe(3);
  });

  test("every line with an empty key name is reported, first line first", () => {
    const e = parseError("[a]\n=x\nok=1\n: y\n");
    expect(e.message).toBe('config.ini:2: line "=x" has no key name before its "="\nconfig.ini:4: line ": y" has no key name before its ":"');
    expect(e.line).toBe(2);
  });

  test("an indented line under a key without a value is an error (as in Python 3.13)", () => {
    expect(parseError("[a]\nflag\n  more\n").message).toMatch(/^config\.ini:3: indented line continues key "flag", which has no value/);
  });
});

describe("round trips", () => {
  test.each([
    ["LF with final newline", "[a]\nx=1\n\n# c\n[b]\ny = 2\n"],
    ["CRLF", "[a]\r\nx=1\r\n  cont\r\n"],
    ["no final newline", "[a]\nx=1"],
    ["BOM and odd spacing", "\ufeff[a]\n   x   :   1   \n\t\n;c\n"],
    ["empty", ""],
    ["comments only", "# nothing here\n"],
  ])("%s is given back byte for byte", (_name, text) => {
    expect(IniDocument.parse(text).toString()).toBe(text);
  });

  test("a BOM does not hide the first header", () => {
    expect(read("\ufeff[a]\nx=1\n").get("a", "x")).toBe("1");
  });
});

describe("edits", () => {
  const base = "# top\n[PWM]\n1=stirring\n2 = media\n\n[leds]\nA=IR\nB=\n\n\n[mqtt]\nport=1883\n";

  test("set changes exactly the key's line and keeps its spacing", () => {
    const doc = IniDocument.parse(base);
    doc.set("PWM", "2", "alt_media");
    const after = doc.toString();
    expect(after.split("\n")).toHaveLength(base.split("\n").length);
    expect(changedLines(base, after)).toEqual({ before: ["2 = media"], after: ["2 = alt_media"] });
  });

  test("set on an empty value fills it in", () => {
    const doc = IniDocument.parse(base);
    doc.set("leds", "B", "white");
    expect(changedLines(base, doc.toString())).toEqual({ before: ["B="], after: ["B=white"] });
  });

  test("set rewrites the last occurrence of a duplicated key, the one that takes effect", () => {
    const doc = IniDocument.parse("[a]\nx=1\n[a]\nx=2\n");
    doc.set("a", "x", "9");
    expect(doc.toString()).toBe("[a]\nx=1\n[a]\nx=9\n");
    expect(doc.getRaw("a", "x")).toBe("9");
  });

  test("a new key goes at the end of its section, before the trailing blank lines", () => {
    const doc = IniDocument.parse(base);
    doc.set("leds", "C", "uv");
    expect(doc.toString()).toBe(base.replace("B=\n\n\n", "B=\nC=uv\n\n\n"));
  });

  test("a new key in the last section of a file without a final newline keeps that style", () => {
    const doc = IniDocument.parse("[a]\nx=1");
    doc.set("a", "y", "2");
    expect(doc.toString()).toBe("[a]\nx=1\ny=2");
  });

  test("a new section is created at the end, after one blank line", () => {
    const doc = IniDocument.parse(base);
    doc.set("ui_basic_auth", "api_key", "abc");
    expect(doc.toString()).toBe(`${base}\n[ui_basic_auth]\napi_key=abc\n`);
    expect(doc.getRaw("ui_basic_auth", "api_key")).toBe("abc");
  });

  test("CRLF files get CRLF lines", () => {
    const doc = IniDocument.parse("[a]\r\nx=1\r\n");
    doc.set("a", "y", "2");
    doc.set("b", "z", "3");
    expect(doc.toString()).toBe("[a]\r\nx=1\r\ny=2\r\n\r\n[b]\r\nz=3\r\n");
  });

  test("replacing a multi-line value drops its old continuation lines and writes new ones indented", () => {
    const doc = IniDocument.parse("[a]\nx=1\n  2\n  3\ny=4\n");
    doc.set("a", "x", "one\ntwo");
    expect(doc.toString()).toBe("[a]\nx=one\n\ttwo\ny=4\n");
    expect(doc.getRaw("a", "x")).toBe("one\ntwo");
  });

  test("null writes a key without a value", () => {
    const doc = IniDocument.parse("[a]\nx = 1\n");
    doc.set("a", "x", null);
    doc.set("a", "flag", null);
    expect(doc.toString()).toBe("[a]\nx\nflag\n");
  });

  test("refuses values and keys that would not read back, leaving the document unchanged", () => {
    const doc = IniDocument.parse(base);
    expect(() => doc.set("PWM", "1", "100%")).toThrow(/\[PWM\] 1: invalid interpolation syntax.*%%/);
    expect(() => doc.set("PWM", "a=b", "x")).toThrow(/invalid key "a=b"/);
    expect(() => doc.set("PWM", "#x", "x")).toThrow(/invalid key "#x"/);
    expect(() => doc.set("", "k", "x")).toThrow(/invalid section name/);
    expect(doc.toString()).toBe(base);
  });

  test("%% and %(ref)s are accepted by set", () => {
    const doc = IniDocument.parse(base);
    doc.set("mqtt", "p", "%(port)s at 100%%");
    expect(read(doc.toString()).get("mqtt", "p")).toBe("1883 at 100%");
  });

  test("remove deletes every occurrence and its continuation lines", () => {
    const doc = IniDocument.parse("[a]\nx=1\ny=2\n[a]\nx=3\n  more\nz=4\n");
    expect(doc.remove("a", "x")).toBe(true);
    expect(doc.toString()).toBe("[a]\ny=2\n[a]\nz=4\n");
    expect(doc.remove("a", "x")).toBe(false);
  });

  test("remove of the last line keeps a missing final newline missing", () => {
    const doc = IniDocument.parse("[a]\nx=1\ny=2");
    doc.remove("a", "y");
    expect(doc.toString()).toBe("[a]\nx=1");
  });
});
