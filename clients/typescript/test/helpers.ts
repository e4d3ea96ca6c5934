import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { SnapdClient, type Hunk, type InitializationOptions } from "../src/index";

/** clients/typescript (this file is compiled to dist-test/test/helpers.js). */
export const PACKAGE_DIR = path.resolve(__dirname, "..", "..");

/** `$SNAPD_PYTHON`, else the repository's `.venv` python, else `python3`. */
export function resolvePython(): string {
  const fromEnv = process.env.SNAPD_PYTHON;
  if (fromEnv) return fromEnv;
  const venv = path.resolve(PACKAGE_DIR, "..", "..", ".venv", "bin", "python");
  return fs.existsSync(venv) ? venv : "python3";
}

export interface Sandbox {
  dir: string;
  root: string;
  store: string;
  logFile: string;
  write(rel: string, content: string | Buffer): void;
  read(rel: string): string;
  remove(rel: string): void;
  spawn(initializationOptions?: InitializationOptions): Promise<SnapdClient>;
  cleanup(): Promise<void>;
}

/** A fresh temp worktree and a separate temp store, and the clients spawned on them. */
export function sandbox(): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snapd-ts-"));
  const root = path.join(dir, "worktree");
  const store = path.join(dir, "store");
  const logFile = path.join(dir, "snapd.log");
  fs.mkdirSync(root);
  const clients: SnapdClient[] = [];
  return {
    dir,
    root,
    store,
    logFile,
    write(rel, content) {
      const file = path.join(root, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    },
    read(rel) {
      return fs.readFileSync(path.join(root, rel), "utf8");
    },
    remove(rel) {
      fs.rmSync(path.join(root, rel), { recursive: true });
    },
    async spawn(initializationOptions) {
      const client = await SnapdClient.spawn({
        root,
        store,
        logFile,
        python: resolvePython(),
        standalone: true,
        ...(initializationOptions !== undefined ? { initializationOptions } : {}),
      });
      clients.push(client);
      return client;
    },
    async cleanup() {
      for (const client of clients) {
        try {
          await client.close();
        } catch {
          // already closed by the test
        }
      }
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** Collect an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of it) out.push(item);
  return out;
}

/**
 * Apply unified-diff hunks (in order) to `oldText` and return the new text, checking every
 * context/removed line against the old text and honouring `noNewlineOld`/`noNewlineNew`.
 */
export function applyHunks(oldText: string, hunks: Hunk[]): string {
  const old = oldText.split("\n");
  const oldEndsWithNewline = oldText.endsWith("\n");
  if (oldEndsWithNewline || oldText === "") old.pop();
  const out: string[] = [];
  let pos = 0; // next old line (0-based) not yet consumed
  let newEndsWithNewline = oldEndsWithNewline;
  let lastHunkReachedEnd = false;
  for (const [i, hunk] of hunks.entries()) {
    const start = hunk.oldLines === 0 ? hunk.oldStart : hunk.oldStart - 1;
    assert.ok(start >= pos, `hunk ${i} starts at old line ${hunk.oldStart}, before line ${pos + 1}`);
    out.push(...old.slice(pos, start));
    pos = start;
    const newLineNumber = out.length + 1;
    if (hunk.newLines > 0) assert.equal(hunk.newStart, newLineNumber, `hunk ${i} newStart`);
    let oldCount = 0;
    let newCount = 0;
    for (const line of hunk.lines) {
      const tag = line[0];
      const text = line.slice(1);
      if (tag === " " || tag === "-") {
        assert.equal(old[pos], text, `hunk ${i}: old line ${pos + 1} differs from the hunk's`);
        pos += 1;
        oldCount += 1;
        if (tag === " ") {
          out.push(text);
          newCount += 1;
        }
      } else if (tag === "+") {
        out.push(text);
        newCount += 1;
      } else {
        assert.fail(`hunk ${i}: bad line tag ${JSON.stringify(line)}`);
      }
    }
    assert.equal(oldCount, hunk.oldLines, `hunk ${i} oldLines`);
    assert.equal(newCount, hunk.newLines, `hunk ${i} newLines`);
    const reachesEnd = pos === old.length;
    if (hunk.noNewlineOld) {
      assert.ok(reachesEnd && !oldEndsWithNewline, `hunk ${i}: noNewlineOld but not at a newline-less end`);
    } else if (reachesEnd && oldCount > 0) {
      assert.ok(oldEndsWithNewline, `hunk ${i}: reaches the newline-less old end without noNewlineOld`);
    }
    if (reachesEnd) newEndsWithNewline = !hunk.noNewlineNew;
    else assert.ok(!hunk.noNewlineNew, `hunk ${i}: noNewlineNew before the end of the file`);
    lastHunkReachedEnd = reachesEnd;
  }
  out.push(...old.slice(pos));
  if (!lastHunkReachedEnd) newEndsWithNewline = oldEndsWithNewline;
  if (out.length === 0) return "";
  return out.join("\n") + (newEndsWithNewline ? "\n" : "");
}
