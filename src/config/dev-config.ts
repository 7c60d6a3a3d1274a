/**
 * A self-contained development configuration: the shipped defaults with every path moved into one
 * folder and the cluster pointed at this machine, so `pio` runs on a laptop or in CI without
 * /home/pioreactor, /run/pioreactor or /var/log (the original ships a similar config.dev.ini).
 */
import fs from "node:fs";
import path from "node:path";
import { IniDocument } from "./ini";
import { saveIniFile } from "./ini-file";

/** The shipped `config/config.example.ini` of this package. */
export function exampleConfigPath(): string {
  const candidates = [path.join(__dirname, "..", "..", "config", "config.example.ini"), path.join(__dirname, "..", "..", "..", "config", "config.example.ini")];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`config.example.ini not found next to the package (looked in ${candidates.join(", ")})`);
  return found;
}

export interface DevConfigOptions {
  /** The folder that becomes DOT_PIOREACTOR. */
  dir: string;
  leaderHostname?: string;
  brokerPort?: number;
  webPort?: number;
}

/** Writes `<dir>/config.ini` (unless it exists) and returns its path. */
export function ensureDevConfig(opts: DevConfigOptions): string {
  const dir = path.resolve(opts.dir);
  const file = path.join(dir, "config.ini");
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(path.join(dir, "storage"), { recursive: true });
  const doc = IniDocument.parse(fs.readFileSync(exampleConfigPath(), "utf8"), { file });
  const storage = path.join(dir, "storage");
  doc.set("storage", "database", path.join(storage, "pioreactor.sqlite"));
  doc.set("storage", "temporary_cache", path.join(storage, "local_intermittent_pioreactor_metadata.sqlite"));
  doc.set("storage", "persistent_cache", path.join(storage, "local_persistent_pioreactor_metadata.sqlite"));
  doc.set("logging", "log_file", path.join(dir, "pioreactor.log"));
  doc.set("logging", "ui_log_file", path.join(dir, "pioreactor.log"));
  doc.set("cluster.topology", "leader_hostname", opts.leaderHostname ?? "localhost");
  doc.set("cluster.topology", "leader_address", "127.0.0.1");
  doc.set("mqtt", "broker_address", "127.0.0.1");
  doc.set("mqtt", "broker_port", String(opts.brokerPort ?? 1883));
  doc.set("ui", "port", String(opts.webPort ?? 4999));
  saveIniFile(file, doc);
  return file;
}
