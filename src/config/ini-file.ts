/** Reading and atomically saving INI documents on disk. */
import * as fs from "node:fs";
import { writeFileAtomicSync } from "./atomic-write";
import { IniDocument } from "./ini";
import { ConfigError } from "./types";

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Reads and parses an INI file; undefined when it does not exist. */
export function readIniFile(file: string): IniDocument | undefined {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "EISDIR") throw new ConfigError(`${file}: is a directory, not a config file`, file);
    if (code === "EACCES") throw new ConfigError(`${file}: permission denied (is it owned by the pioreactor user?)`, file);
    throw e;
  }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new ConfigError(`${file}: is not valid UTF-8 text; re-save it as UTF-8`, file);
  }
  return IniDocument.parse(text, { file });
}

/** Writes the document to `file` atomically; an existing file keeps its permission bits. */
export function saveIniFile(file: string, document: IniDocument, defaultMode = 0o664): void {
  writeFileAtomicSync(file, document.toString(), { defaultMode });
}
