import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileMemo } from "../../../src/leader/web/file-memo";

describe("FileMemo", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-memo-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("derives once while the file is unchanged, again after an edit, and keeps no failure", () => {
    const file = path.join(dir, "a.yaml");
    fs.writeFileSync(file, "one");
    const memo = new FileMemo<string>();
    const seen: string[] = [];
    const derive = (text: string) => {
      seen.push(text);
      if (text === "bad") throw new Error("cannot parse");
      return text.toUpperCase();
    };
    expect(memo.get(file, derive)).toBe("ONE");
    expect(memo.get(file, derive)).toBe("ONE");
    expect(seen).toEqual(["one"]);
    fs.writeFileSync(file, "two, longer");
    expect(memo.get(file, derive)).toBe("TWO, LONGER");
    fs.writeFileSync(file, "bad");
    expect(() => memo.get(file, derive)).toThrow("cannot parse");
    expect(() => memo.get(file, derive)).toThrow("cannot parse");
    expect(seen).toEqual(["one", "two, longer", "bad", "bad"]);
    fs.rmSync(file);
    expect(() => memo.get(file, derive)).toThrow(/ENOENT/);
  });

  it("holds at most maxEntries files, dropping the least recently derived", () => {
    const memo = new FileMemo<number>(2);
    let derivations = 0;
    const derive = (text: string) => {
      derivations += 1;
      return text.length;
    };
    const files = ["a", "b", "c"].map((n) => {
      const f = path.join(dir, n);
      fs.writeFileSync(f, n.repeat(3));
      return f;
    });
    for (const f of files) memo.get(f, derive);
    expect(derivations).toBe(3);
    memo.get(files[2], derive);
    memo.get(files[1], derive);
    expect(derivations).toBe(3);
    memo.get(files[0], derive);
    expect(derivations).toBe(4);
  });
});
