/**
 * Calibration archives: a unit's `storage/calibrations/**\/*.yaml` as one ZIP (entries
 * `<device>/<name>.yaml`), and the leader's merge of several units' archives under `<unit>/`.
 * Calibrations are small YAML files, so archives are built in memory.
 */
import fs from "node:fs";
import path from "node:path";
import { readZip } from "../export/zip-reader";
import { type ByteSink, ZipWriter } from "../export/zip-writer";

class MemorySink implements ByteSink {
  readonly chunks: Buffer[] = [];
  write(bytes: Buffer): void {
    this.chunks.push(Buffer.from(bytes));
  }
}

/** Every `*.yaml` under `root`, as paths relative to it with `/` separators, sorted. */
function yamlFilesUnder(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile() && e.name.endsWith(".yaml"))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}

export async function zipDirectoryYaml(root: string, now: () => Date): Promise<Buffer> {
  const sink = new MemorySink();
  const zip = new ZipWriter(sink, now);
  for (const rel of yamlFilesUnder(root)) await zip.addFile(rel, fs.readFileSync(path.join(root, rel)));
  await zip.finish();
  return Buffer.concat(sink.chunks);
}

/** One archive holding each unit's entries under `<unit>/`. */
export async function mergeUnitArchives(archives: Array<{ unit: string; zip: Buffer }>, now: () => Date): Promise<Buffer> {
  const sink = new MemorySink();
  const zip = new ZipWriter(sink, now);
  for (const { unit, zip: archive } of archives) {
    for (const entry of readZip(archive)) if (!entry.isDirectory) await zip.addFile(`${unit}/${entry.name}`, entry.data);
  }
  await zip.finish();
  return Buffer.concat(sink.chunks);
}
