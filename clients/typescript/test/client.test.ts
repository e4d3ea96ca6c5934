import * as assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";

import { ErrorCodes, Methods, PROTOCOL_VERSION, SnapdError, type WorkDoneProgress } from "../src/index";
import { applyHunks, collect, sandbox, type Sandbox } from "./helpers";

let sb: Sandbox;

beforeEach(() => {
  sb = sandbox();
});

afterEach(async () => {
  await sb.cleanup();
});

async function rejectsWith(promise: Promise<unknown>, code: number, field?: string): Promise<SnapdError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof SnapdError, `expected a SnapdError, got ${String(err)}`);
    assert.equal(err.code, code, `code (message: ${err.message})`);
    if (field !== undefined) assert.equal(err.field, field);
    return err;
  }
  assert.fail(`expected a rejection with code ${code}`);
}

describe("lifecycle", () => {
  test("initialize reports protocol version 0.1 and the methods", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn();
    assert.equal(client.protocolVersion, "0.1");
    assert.equal(client.protocolVersion, PROTOCOL_VERSION);
    for (const method of Object.values(Methods)) assert.ok(client.methods.includes(method), method);
    assert.deepEqual(client.methods, [...client.methods].sort(), "methods are sorted");
    const status = await client.status();
    assert.equal(status.protocolVersion, "0.1");
    assert.equal(status.watcher, "off");
    assert.equal(status.head, undefined);
    assert.equal(await client.close(), 0);
    assert.equal(await client.close(), 0, "close is idempotent");
  });
});

describe("snapd/snapshot", () => {
  test("labelled snapshot, created flag, snapshots listing and progress", async () => {
    sb.write("a.txt", "alpha\n");
    sb.write("src/b.txt", "beta\n");
    const client = await sb.spawn();

    const progress: WorkDoneProgress[] = [];
    const sub = client.onProgress("snap-1", (value) => progress.push(value));
    const first = await client.snapshot({ label: "step-1", workDoneToken: "snap-1" });
    sub.dispose();
    assert.equal(first.created, true);
    assert.equal(first.label, "step-1");
    assert.match(first.id, /^[0-9a-f]{40}$/);
    assert.equal(first.files, 2);
    assert.equal(first.parent, undefined);
    assert.equal(progress[0]?.kind, "begin");
    assert.equal(progress.at(-1)?.kind, "end");

    const again = await client.snapshot();
    assert.equal(again.created, false, "nothing changed and no label: no new snapshot");
    assert.equal(again.id, first.id);

    const labelled = await client.snapshot({ label: "step-2" });
    assert.equal(labelled.created, true, "a labelled snapshot is always written");
    assert.equal(labelled.parent, first.id);

    sb.write("a.txt", "alpha 2\n");
    const changed = await client.snapshot();
    assert.equal(changed.created, true);
    assert.equal(changed.changed, 1);
    assert.equal(changed.label, undefined);

    const listed = await collect(client.iterSnapshots({ limit: 1 }));
    assert.deepEqual(
      listed.map((s) => s.id),
      [changed.id, labelled.id, first.id],
    );
    assert.deepEqual(
      listed.map((s) => s.label),
      [undefined, "step-2", "step-1"],
    );
    assert.equal((await client.status()).head, changed.id);
  });
});

describe("snapd/diff", () => {
  test("live diff after edits reports added, modified and deleted", async () => {
    sb.write("keep.txt", "same\n");
    sb.write("edit.txt", "before\n");
    sb.write("gone.txt", "bye\n");
    const client = await sb.spawn();
    const snap = await client.snapshot({ label: "base" });

    sb.write("edit.txt", "after, longer\n");
    sb.remove("gone.txt");
    sb.write("new/added.txt", "hello\n");

    const diff = await client.diff({ from: "latest" });
    assert.equal(diff.nextCursor, undefined);
    assert.deepEqual(
      diff.files.map((f) => [f.path, f.status]),
      [
        ["edit.txt", "modified"],
        ["gone.txt", "deleted"],
        ["new/added.txt", "added"],
      ],
    );
    const [edit, gone, added] = diff.files;
    assert.equal(edit?.oldSize, 7);
    assert.equal(edit?.newSize, 14);
    assert.equal(edit?.oldMode, 0o100644);
    assert.equal(gone?.newSize, undefined);
    assert.equal(added?.oldSize, undefined);
    assert.equal(added?.newSize, 6);

    // The same diff by id prefix, and restricted by `paths`.
    const byPrefix = await client.diff({ from: snap.id.slice(0, 8), paths: ["new"] });
    assert.deepEqual(
      byPrefix.files.map((f) => f.path),
      ["new/added.txt"],
    );

    // Between two snapshots, with nothing changed since: empty.
    const after = await client.snapshot();
    const between = await client.diff({ from: snap.id, to: after.id });
    assert.equal(between.files.length, 3);
    assert.deepEqual((await client.diff({ from: "latest" })).files, []);
  });

  test("paging with limit 1 yields the same paths as one big page", async () => {
    for (let i = 0; i < 30; i++) sb.write(`dir${i % 3}/file${String(i).padStart(2, "0")}.txt`, `v1 ${i}\n`);
    const client = await sb.spawn();
    await client.snapshot();
    for (let i = 0; i < 10; i++) sb.write(`dir${i % 3}/file${String(i).padStart(2, "0")}.txt`, `v2 ${i}\n`);
    for (let i = 10; i < 15; i++) sb.remove(`dir${i % 3}/file${String(i).padStart(2, "0")}.txt`);
    for (let i = 0; i < 10; i++) sb.write(`added/n${i}.txt`, `new ${i}\n`);

    const big = await client.diff({ from: "latest", limit: 1000 });
    assert.equal(big.nextCursor, undefined);
    assert.equal(big.files.length, 25);

    const first = await client.diff({ from: "latest", limit: 1 });
    assert.equal(first.files.length, 1);
    assert.equal(typeof first.nextCursor, "string");

    const paged = await collect(client.iterDiff({ from: "latest", limit: 1 }));
    assert.deepEqual(
      paged.map((f) => f.path),
      big.files.map((f) => f.path),
    );
    assert.deepEqual(paged, big.files);
    const statuses = new Map<string, number>();
    for (const f of paged) statuses.set(f.status, (statuses.get(f.status) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(statuses), { added: 10, deleted: 5, modified: 10 });
  });
});

describe("snapd/hunks", () => {
  test("paged hunks equal the unpaged ones and apply to the old text", async () => {
    const oldLines = Array.from({ length: 2000 }, (_, i) => `line ${i + 1}`);
    const oldText = oldLines.join("\n") + "\n";
    // Change every 50th line (the last one too), and drop the final newline.
    const newText = oldLines.map((l, i) => ((i + 1) % 50 === 0 ? `${l} changed` : l)).join("\n");
    sb.write("big.txt", oldText);
    const client = await sb.spawn();
    const snap = await client.snapshot();
    sb.write("big.txt", newText);

    const whole = await client.hunks({ from: snap.id, path: "big.txt" });
    assert.equal(whole.nextCursor, undefined);
    assert.equal(whole.hunks.length, 40);
    assert.equal(whole.truncated, undefined);
    assert.equal(whole.binary, undefined);
    const last = whole.hunks.at(-1)!;
    assert.equal(last.noNewlineOld, undefined, "the old text ends with a newline");
    assert.equal(last.noNewlineNew, true, "the new text does not");

    const paged = await collect(client.iterHunks({ from: snap.id, path: "big.txt", limit: 1 }));
    assert.deepEqual(paged, whole.hunks);
    assert.equal(applyHunks(oldText, paged), newText);

    // With no context, and in the other direction (old side without the final newline).
    const snap2 = await client.snapshot();
    sb.write("big.txt", oldText);
    const back = await collect(client.iterHunks({ from: snap2.id, path: "big.txt", context: 0, limit: 1 }));
    assert.equal(back.length, 40);
    assert.equal(back.at(-1)?.noNewlineOld, true);
    assert.equal(applyHunks(newText, back), oldText);
  });

  test("a cursor used with other selecting params is refused", async () => {
    sb.write("f.txt", Array.from({ length: 300 }, (_, i) => `${i}\n`).join(""));
    const client = await sb.spawn();
    await client.snapshot();
    sb.write("f.txt", Array.from({ length: 300 }, (_, i) => (i % 20 === 0 ? `x${i}\n` : `${i}\n`)).join(""));
    const page = await client.hunks({ from: "latest", path: "f.txt", limit: 1 });
    assert.ok(page.nextCursor);
    await rejectsWith(
      client.hunks({ from: "latest", path: "f.txt", context: 1, limit: 1, cursor: page.nextCursor }),
      ErrorCodes.BadCursor,
      "cursor",
    );
  });
});

describe("snapd/explain", () => {
  test("an ignored file is skipped by rule ignore-file", async () => {
    sb.write(".gitignore", "*.log\nbuild/\n");
    sb.write("debug.log", "noise\n");
    sb.write("src/main.ts", "export {};\n");
    const client = await sb.spawn();

    const ignored = await client.explain({ path: "debug.log" });
    assert.equal(ignored.outcome, "skipped");
    assert.equal(ignored.rule, "ignore-file");
    assert.equal(ignored.exists, true);
    assert.equal(ignored.kind, "file");
    assert.equal(ignored.size, 6);
    assert.match(ignored.evidence ?? "", /\.gitignore/);

    const captured = await client.explain({ path: "src/main.ts" });
    assert.equal(captured.outcome, "captured");
    assert.equal(captured.rule, "captured");

    const missing = await client.explain({ path: "build/out.js" });
    assert.equal(missing.exists, false);
    assert.equal(missing.outcome, "skipped");

    const snap = await client.snapshot();
    assert.equal(snap.rules?.["ignore-file"], 1);
  });
});

describe("errors", () => {
  test("unknown snapshot: -31001 with field from", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn();
    await rejectsWith(client.diff({ from: "latest" }), ErrorCodes.UnknownSnapshot, "from");
    await client.snapshot();
    const err = await rejectsWith(client.diff({ from: "not-a-snapshot" }), -31001, "from");
    assert.equal(err.codeName, "UnknownSnapshot");
    assert.equal(err.method, "snapd/diff");
    await rejectsWith(client.diff({ from: "latest", to: "0000" }), ErrorCodes.UnknownSnapshot, "to");
  });

  test("invalid params: -32602 with field limit", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn();
    await client.snapshot();
    const err = await rejectsWith(
      client.diff({ from: "latest", limit: "x" as unknown as number }),
      ErrorCodes.InvalidParams,
      "limit",
    );
    assert.ok(Array.isArray(err.data?.errors));
    await rejectsWith(client.diff({ from: "latest", limit: 0 }), ErrorCodes.InvalidParams, "limit");
    await rejectsWith(client.explain({ path: "../outside" }), ErrorCodes.PathOutsideRoot, "path");
    // The daemon keeps serving after errors.
    assert.equal((await client.status()).protocolVersion, "0.1");
  });

  test("a second daemon on the same store gets -31004 from spawn", async () => {
    sb.write("a.txt", "a\n");
    await sb.spawn();
    await rejectsWith(sb.spawn(), ErrorCodes.StoreLocked);
  });

  test("a bad initialization option is refused", async () => {
    await rejectsWith(sb.spawn({ pageLimit: -1 }), ErrorCodes.InvalidParams, "initializationOptions");
  });
});
