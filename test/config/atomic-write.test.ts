import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomicSync } from "../../src/config/atomic-write";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-atomic-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test("replaces the content, keeps the file's mode and leaves no temporary file", () => {
  const file = path.join(dir, "config.ini");
  fs.writeFileSync(file, "old");
  fs.chmodSync(file, 0o640);
  writeFileAtomicSync(file, "new");
  expect(fs.readFileSync(file, "utf8")).toBe("new");
  expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  expect(fs.readdirSync(dir)).toEqual(["config.ini"]);
});

test("a new file gets the default mode regardless of the umask", () => {
  const file = path.join(dir, "sub", "unit_config.ini");
  const previous = process.umask(0o077);
  try {
    writeFileAtomicSync(file, "[a]\n", { defaultMode: 0o664 });
  } finally {
    process.umask(previous);
  }
  expect(fs.statSync(file).mode & 0o777).toBe(0o664);
});

test("a failed write leaves the target untouched and cleans up", () => {
  const target = path.join(dir, "is-a-dir");
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, "keep"), "x");
  expect(() => writeFileAtomicSync(target, "data")).toThrow();
  expect(fs.readdirSync(dir)).toEqual(["is-a-dir"]);
  expect(fs.readdirSync(target)).toEqual(["keep"]);
});
