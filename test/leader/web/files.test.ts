/** `POST|PUT /unit_api/system/file`: writes inside `$DOT_PIOREACTOR` only, atomically, with the kill switches. */
import fs from "node:fs";
import path from "node:path";
import { type Harness, startHarness } from "./harness";

describe("/unit_api/system/file", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  test("writes the bytes at a path relative to $DOT_PIOREACTOR (or absolute inside it), creating folders", async () => {
    const bytes = Buffer.from([0, 255, 1, 2, 3]);
    const r = await h.request("POST", "/unit_api/system/file", { filepath: "plugins/a/b.bin", content_base64: bytes.toString("base64") });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ status: "success", path: path.join(h.dot, "plugins", "a", "b.bin"), size_bytes: 5 });
    expect(fs.readFileSync(path.join(h.dot, "plugins", "a", "b.bin"))).toEqual(bytes);
    const again = await h.request("PUT", "/unit_api/system/file", { filepath: path.join(h.dot, "plugins", "a", "b.bin"), content_base64: "aGk=" });
    expect(again.status).toBe(201);
    expect(fs.readFileSync(path.join(h.dot, "plugins", "a", "b.bin"), "utf8")).toBe("hi");
    expect(fs.readdirSync(path.join(h.dot, "plugins", "a"))).toEqual(["b.bin"]);
  });

  test("a file larger than the 1 MiB JSON limit is accepted", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const r = await h.request("POST", "/unit_api/system/file", { filepath: "big.bin", content_base64: big.toString("base64") });
    expect(r.status).toBe(201);
    expect(fs.statSync(path.join(h.dot, "big.bin")).size).toBe(big.length);
  });

  test.each([
    [{ filepath: "../escape.txt", content_base64: "aGk=" }, 403, "Access to this path is not allowed"],
    [{ filepath: "/etc/escape.txt", content_base64: "aGk=" }, 403, "Access to this path is not allowed"],
    [{ filepath: "storage/pioreactor.sqlite", content_base64: "aGk=" }, 403, "Access to this path is not allowed"],
    [{ filepath: "x.txt", content_base64: "not base64!" }, 400, "Invalid request body."],
    [{ filepath: "x.txt" }, 400, "Invalid request body."],
    [{ filepath: "plugins", content_base64: "aGk=" }, 400, "plugins is a directory."],
  ])("%j → %i, nothing written", async (body, status, error) => {
    const r = await h.request("POST", "/unit_api/system/file", body);
    expect(r.status).toBe(status);
    expect(r.json.error).toBe(error);
    expect(fs.existsSync(path.join(h.dir, "escape.txt"))).toBe(false);
    expect(fs.existsSync(path.join(h.dot, "x.txt"))).toBe(false);
    expect(fs.existsSync(path.join(h.dot, "storage", "pioreactor.sqlite"))).toBe(false);
  });

  test("DISALLOW_UI_UPLOADS and DISALLOW_UI_FILE_SYSTEM refuse with 403", async () => {
    for (const marker of ["DISALLOW_UI_UPLOADS", "DISALLOW_UI_FILE_SYSTEM"]) {
      fs.writeFileSync(path.join(h.dot, marker), "");
      const r = await h.request("POST", "/unit_api/system/file", { filepath: "blocked.txt", content_base64: "aGk=" });
      expect(r.status).toBe(403);
      expect(r.json.error).toBe(`${marker} is present`);
      fs.rmSync(path.join(h.dot, marker));
    }
    expect(fs.existsSync(path.join(h.dot, "blocked.txt"))).toBe(false);
  });
});
