#!/usr/bin/env node
/**
 * `npm run demo:stirring`: one job on the wire. Creates a development config in `.pioreactor-dev/`
 * (once), then runs `pio run stirring` in TESTING mode on the simulated bioreactor with the
 * embedded MQTT broker. Ctrl-C stops it cleanly.
 */
import path from "node:path";
import { ensureDevConfig } from "../config/dev-config";
import { runProgram } from "./main";
import { buildPioProgram } from "./pio";

async function main(): Promise<void> {
  const dir = path.resolve(process.env.DOT_PIOREACTOR || ".pioreactor-dev");
  ensureDevConfig({ dir });
  const env = { ...process.env, TESTING: "1", DOT_PIOREACTOR: dir, GLOBAL_CONFIG: path.join(dir, "config.ini") };
  process.stderr.write(`demo: config in ${dir}; watch with  TESTING=1 DOT_PIOREACTOR=${dir} npx pio mqtt\n`);
  const args = ["run", "--embedded-broker", "stirring", ...process.argv.slice(2)];
  const program = buildPioProgram(env, process.cwd(), [], args);
  process.exitCode = await runProgram(program, ["node", "pio", ...args]);
}

void main();
