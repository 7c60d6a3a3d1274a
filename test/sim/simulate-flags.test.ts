/**
 * `pio run profile --simulate` refuses a bad number flag with the flag's name and what it got,
 * before writing anything: no empty output folder is left behind.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runSimulatedProfile } from "../../src/cli/simulate-cmd";

test.each([
  ["threads", "--threads expects a positive number, got 'abc'."],
  ["adcSamples", "--adc-samples expects a positive number, got 'abc'."],
])("--%s abc is refused and nothing is written", async (flag, message) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "pio-sim-flags-"));
  const out = path.join(parent, "out");
  try {
    await expect(
      runSimulatedProfile("p.yaml", 'version: "1.0"\nexperiment_profile_name: x\n', { simulate: true, out, [flag]: "abc" }, { cwd: parent, setExitCode: () => undefined }),
    ).rejects.toThrow(message);
    expect(fs.existsSync(out)).toBe(false);
  } finally {
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
