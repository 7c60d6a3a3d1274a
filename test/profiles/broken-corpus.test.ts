/**
 * The broken-profile corpus: each `broken/<name>.yaml` has `broken/<name>.expected`, one
 * diagnostic per line as `formatDiagnostic` prints it, followed by `@ <path>`.
 * Regenerate after a deliberate change with `UPDATE_EXPECTED=1 npx jest test/profiles/broken`,
 * then review the diff line by line.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatDiagnostic } from "../../src/profiles/diagnostics";
import { ProfileSchemaValidator } from "../../src/profiles/schema";
import { validateProfileText } from "../../src/profiles/validate";

const dir = join(__dirname, "broken");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
const schemaValidator = new ProfileSchemaValidator();
const KNOWN_UNITS = ["worker1", "worker2", "worker3"];

test("the corpus is large enough", () => {
  expect(files.length).toBeGreaterThanOrEqual(20);
});

describe.each(files)("%s", (file) => {
  const result = validateProfileText(readFileSync(join(dir, file), "utf8"), {
    filename: file,
    knownUnits: KNOWN_UNITS,
    schemaValidator,
  });
  const actual = result.diagnostics.map((d) => `${formatDiagnostic(d, file)} @ ${d.path}`).join("\n") + "\n";
  const expectedPath = join(dir, file.replace(/\.yaml$/, ".expected"));

  test("diagnostics match, with exact codes, lines and columns", () => {
    if (process.env.UPDATE_EXPECTED === "1") writeFileSync(expectedPath, actual);
    // A new corpus file needs its expected output reviewed, not written silently by the test.
    if (!existsSync(expectedPath)) throw new Error(`${expectedPath} is missing: run with UPDATE_EXPECTED=1 and review it.`);
    expect(actual).toBe(readFileSync(expectedPath, "utf8"));
  });

  test("is reported as broken (or at least warned about)", () => {
    expect(result.diagnostics.length).toBeGreaterThan(0);
  });
});
