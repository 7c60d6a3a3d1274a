/**
 * The fast YAML reader against the full loader: whenever the fast reader accepts a text, the full
 * loader must read the same value and report nothing. Checked on every profile we have, on edge
 * cases, and on thousands of deterministic mutations of them (deleted lines, changed characters).
 */
import fs from "node:fs";
import path from "node:path";
import { fullLoadYaml, loadYaml } from "../../src/profiles/load";
import { fastLoadYaml } from "../../src/profiles/yaml-fast";
import { PyInt } from "../../src/util/python-format";

/** Exact text of a value: ints and floats apart, own keys in order (even `__proto__`), prototypes checked. */
function canonical(v: unknown): string {
  if (v instanceof PyInt) return `int(${v.value})`;
  if (typeof v === "number") return `float(${Object.is(v, -0) ? "-0" : String(v)})`;
  if (v === null || typeof v !== "object") return `${typeof v}(${JSON.stringify(v)})`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (Object.getPrototypeOf(v) !== Object.prototype) return "unexpected prototype";
  return `{${Object.keys(v)
    .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
    .join(",")}}`;
}

function corpus(): Array<[string, string]> {
  const dirs = [path.join(__dirname, "valid"), path.join(__dirname, "broken"), path.join(__dirname, "..", "..", "profiles")];
  const out: Array<[string, string]> = [];
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).sort()) if (/\.ya?ml$/.test(f)) out.push([f, fs.readFileSync(path.join(dir, f), "utf8")]);
  }
  return out;
}

/** Same value and no diagnostics from the full loader, or the fast reader declined. */
function agrees(text: string): boolean {
  const fast = fastLoadYaml(text);
  if (fast === undefined) return false;
  const full = fullLoadYaml(text);
  expect({ text, diagnostics: full.diagnostics }).toEqual({ text, diagnostics: [] });
  expect(canonical(fast)).toBe(canonical(full.value));
  return true;
}

const EDGE_CASES = [
  "a: 1\nb: 1.0\nc: yes\nd: ~\ne: 010\nf: 1:30\ng: 1e3\nh: 0x1F\ni: .inf\nj: 2024-01-02\n",
  "a: 'it''s'\nb: \"x: y # z\"\nc: plain text  # comment\nd: a#b\n",
  "list:\n- 1\n- two\n-\n- {a: 1, 'b': [x, \"y\", -1, {}], c: []}\n",
  "m:\n  - type: start\n    t: 0s\n    options:\n      target_rpm: 400.0\n  - {type: stop, t: 1h}\n",
  "k:\nnext: 1\nempty_flow: {}\n",
  "__proto__: 1\nconstructor: 2\n",
  "a: -5\nb: -x\nc: ?x\nd: :x\n",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: profile expressions are literal text
  "a: ${{ rpm + 1 }}\nb: \"${{ unit() }}\"\nc: x > 1 and y < 2\n",
  "a:\n  b:\n    c:\n      - - 1\n",
  "a: [1, 2,]\n",
  "a: {b}\n",
  "a: 1\na: 2\n",
  "on: 1\n",
  "1: x\n",
  "a: &x 1\nb: *x\n",
  "a: !!str 1\n",
  "a: |\n  text\n",
  "a: multi\n  line\n",
  "a: \"esc\\n\"\n",
  "---\na: 1\n",
  "a:\tb\n",
  "a: b: c\n",
  "- a\n",
  "a: 'unterminated\n",
  "a: {b: 1\n",
  "a: [x]y\n",
  "a:\n   b: 1\n  c: 2\n",
  "a:\n  - x\n   - y\n",
  "a: x\u00a0\n",
  "\"quoted key\": 1\n'k2': [a]\n",
  "a: 1 #c\n  # indented comment\nb: 2\n",
];

describe("fast YAML reader", () => {
  test.each(corpus())("%s: accepted only with the full loader's value and no diagnostics", (_name, text) => {
    agrees(text);
  });

  test("reads the example profiles and the valid corpus itself (not just declining)", () => {
    const valid = corpus().filter(([name]) => !/^\d\d-/.test(name));
    expect(valid.length).toBeGreaterThan(0);
    for (const [name, text] of valid) expect([name, agrees(text)]).toEqual([name, true]);
  });

  test.each(EDGE_CASES.map((t) => [JSON.stringify(t), t]))("edge case %s", (_label, text) => {
    agrees(text);
  });

  test("deterministic mutations of the corpus", () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = [" ", "-", ":", "#", "'", '"', "{", "}", "[", "]", ",", "a", "1", "\n", "&", "*", "!", "|", ">", "?", "."];
    let accepted = 0;
    for (const [, text] of [...corpus(), ["edges", EDGE_CASES.join("")] as [string, string]]) {
      for (let k = 0; k < 150; k++) {
        let t = text;
        const edits = 1 + rand(3);
        for (let e = 0; e < edits; e++) {
          const at = rand(t.length + 1);
          const op = rand(3);
          if (op === 0) t = t.slice(0, at) + t.slice(at + 1);
          else if (op === 1) t = t.slice(0, at) + alphabet[rand(alphabet.length)] + t.slice(at);
          else {
            const lines = t.split("\n");
            lines.splice(rand(lines.length), 1);
            t = lines.join("\n");
          }
        }
        if (agrees(t)) accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(100);
  });

  test("positions come from the full parser when a diagnostic asks", () => {
    const text = "a:\n  b: 1\n  c: [x, y]\n";
    const lazy = loadYaml(text).sourceMap;
    const full = fullLoadYaml(text).sourceMap;
    for (const p of [[], ["a"], ["a", "b"], ["a", "c", 1], ["a", "missing"]]) expect(lazy.locate(p)).toEqual(full.locate(p));
    expect(lazy.locate(["a", "b"], true)).toEqual(full.locate(["a", "b"], true));
  });
});
