/**
 * Keeps a unit's simulated bioreactor in a file so the separate processes of one unit (one per
 * `pio run` job, as in the original) see the same culture: each hardware call loads the latest
 * state, integrates it to now, acts, and saves. Saves are atomic (write a temp file, rename), so
 * a reader never sees a torn file. There is no lock: two processes acting in the same
 * millisecond can lose one update (a single LED change or a few noise draws), which a simulation
 * tolerates; everything else is recomputed from time on the next load.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import type { BioreactorSnapshot } from "./bioreactor";

export interface SimStateStore {
  load(unit: string): BioreactorSnapshot | undefined;
  save(unit: string, snapshot: BioreactorSnapshot): void;
}

const UNIT_NAME = /^[A-Za-z0-9_.-]+$/;

export class FileSimStateStore implements SimStateStore {
  private tmpCounter = 0;

  constructor(readonly dir: string) {}

  fileFor(unit: string): string {
    if (!UNIT_NAME.test(unit) || unit.startsWith(".")) throw new Error(`invalid unit name for a simulator state file: '${unit}'`);
    return path.join(this.dir, `${unit}.bioreactor.json`);
  }

  load(unit: string): BioreactorSnapshot | undefined {
    const file = this.fileFor(unit);
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as BioreactorSnapshot;
    } catch (err) {
      throw new Error(`simulator state ${file} is corrupt (${(err as Error).message}); delete it to start a fresh culture`);
    }
  }

  save(unit: string, snapshot: BioreactorSnapshot): void {
    const file = this.fileFor(unit);
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${this.tmpCounter++}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(snapshot));
    fs.renameSync(tmp, file);
  }
}

/** Same interface, in memory: for simulated clusters inside one process and for tests. */
export class MemorySimStateStore implements SimStateStore {
  private readonly snapshots = new Map<string, string>();
  load(unit: string): BioreactorSnapshot | undefined {
    const s = this.snapshots.get(unit);
    return s === undefined ? undefined : (JSON.parse(s) as BioreactorSnapshot);
  }
  save(unit: string, snapshot: BioreactorSnapshot): void {
    this.snapshots.set(unit, JSON.stringify(snapshot));
  }
}
