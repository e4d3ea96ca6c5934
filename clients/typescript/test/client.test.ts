import * as assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";

import {
  DiffRequest,
  DidSnapshotNotification,
  ErrorCodes,
  Methods,
  Notifications,
  PROTOCOL_VERSION,
  SnapshotRequest,
  StatusRequest,
  SnapdClient,
  SnapdConnectionError,
  SnapdError,
  type DidChangeParams,
  type DidSnapshotParams,
  type WorkDoneProgress,
} from "../src/index";
import * as fs from "node:fs";
import * as path from "node:path";

import { applyHunks, collect, resolvePython, sandbox, type Sandbox } from "./helpers";

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
  test("initialize reports the protocol version and the methods", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn({ watch: false });
    assert.equal(client.protocolVersion, PROTOCOL_VERSION);
    for (const method of Object.values(Methods)) assert.ok(client.methods.includes(method), method);
    assert.deepEqual(client.methods, [...client.methods].sort(), "methods are sorted");
    const status = await client.status();
    assert.equal(status.protocolVersion, PROTOCOL_VERSION);
    assert.equal(status.watcher, "off", "watch: false");
    assert.equal(status.autoSnapshot, undefined, "no automatic snapshots without the watcher");
    assert.equal(status.head, undefined);
    assert.equal(await client.close(), 0);
    assert.equal(await client.close(), 0, "close is idempotent");
  });
});

describe("the shared daemon (issue 15)", () => {
  test("two clients of one worktree share one history and hear each other's snapshots", async () => {
    sb.write("a.txt", "a\n");
    // Its own store: the shared daemon outlives the clients (until it is idle), so the
    // sandbox's directory is not where it writes.
    const store = fs.mkdtempSync(path.join(sb.dir, "..", "snapd-ts-shared-"));
    const opts = { root: sb.root, store, python: resolvePython() };
    const editor = await SnapdClient.spawn({ ...opts, clientName: "editor", logFile: sb.logFile });
    const agent = await SnapdClient.spawn({
      ...opts,
      clientName: "agent",
      logFile: path.join(sb.dir, "agent.log"),
    });
    try {
      const heard = new Promise<DidSnapshotParams>((resolve) => {
        const sub = editor.onDidSnapshot((p) => {
          if (p.client === "agent") {
            sub.dispose();
            resolve(p);
          }
        });
      });
      const taken = await agent.snapshot({ label: "agent step" });
      assert.equal(taken.client, "agent");
      assert.equal((await heard).id, taken.id);
      const listed = await editor.snapshots();
      assert.ok(listed.snapshots.some((s) => s.id === taken.id && s.client === "agent"));
    } finally {
      assert.equal(await editor.close(), 0);
      assert.equal(await agent.close(), 0);
    }
  });
});

describe("start-up (issue 13 #18)", () => {
  test("json.py, typing.py and logging.py in the daemon's cwd do not shadow its modules", async () => {
    sb.write("a.txt", "a\n");
    const cwd = path.join(sb.dir, "project");
    fs.mkdirSync(cwd);
    for (const name of ["json.py", "typing.py", "logging.py"]) {
      fs.writeFileSync(path.join(cwd, name), "raise SystemExit(1)\n");
    }
    const client = await SnapdClient.spawn({
      root: sb.root,
      store: sb.store,
      logFile: sb.logFile,
      python: resolvePython(),
      standalone: true,
      cwd,
      initializationOptions: { watch: false },
    });
    try {
      assert.equal((await client.snapshot()).files, 1);
    } finally {
      assert.equal(await client.close(), 0);
    }
  });

  test("a daemon that dies during start-up is reported with the tail of its stderr", async () => {
    await assert.rejects(
      SnapdClient.spawn({
        root: sb.root,
        store: sb.store,
        logFile: sb.logFile,
        python: resolvePython(),
        standalone: true,
        args: ["--no-such"],
      }),
      (err: unknown) => {
        assert.ok(err instanceof SnapdConnectionError, String(err));
        assert.match(err.message, /exited during initialize with status 2/);
        assert.match(err.message, /unrecognized arguments: --no-such/);
        return true;
      },
    );
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
    assert.equal((await client.status()).protocolVersion, PROTOCOL_VERSION);
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

/** Resolve with the first value `subscribe` delivers that satisfies `pred`, or reject after `ms`. */
function nextEvent<T>(
  subscribe: (cb: (value: T) => void) => { dispose(): void },
  pred: (value: T) => boolean = () => true,
  ms = 10000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`no event within ${ms} ms`));
    }, ms);
    const sub = subscribe((value) => {
      if (!pred(value)) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(value);
    });
  });
}

describe("snapd/restore", () => {
  test("dry run, then apply with the plan token: content back and a safety snapshot", async () => {
    sb.write("a.txt", "original\n");
    sb.write("b.txt", "untouched\n");
    const client = await sb.spawn({ autoSnapshot: false });
    const snap = await client.snapshot({ label: "base" });
    sb.write("a.txt", "edited by an agent\n");
    sb.write("extra.txt", "new file\n");

    const plan = await client.restore({ from: snap.id, paths: ["a.txt"] });
    assert.equal(plan.applied, false);
    assert.equal(typeof plan.planToken, "string");
    assert.equal(plan.safetySnapshot, undefined, "a dry run takes no safety snapshot");
    assert.deepEqual(
      plan.plan.map((a) => [a.path, a.action]),
      [["a.txt", "write"]],
    );
    assert.equal(plan.written, 1);
    assert.equal(plan.deleted, 0);
    assert.equal(plan.plan[0]?.oldSize, 19);
    assert.equal(plan.plan[0]?.newSize, 9);
    assert.equal(sb.read("a.txt"), "edited by an agent\n", "a dry run writes nothing");

    const applied = await client.restore({
      from: snap.id,
      paths: ["a.txt"],
      dryRun: false,
      planToken: plan.planToken,
    });
    assert.equal(applied.applied, true);
    assert.equal(applied.written, 1);
    assert.equal(applied.conflicted, undefined);
    assert.match(applied.safetySnapshot ?? "", /^[0-9a-f]{40}$/);
    assert.notEqual(applied.safetySnapshot, snap.id);
    assert.equal(sb.read("a.txt"), "original\n");
    assert.equal(sb.read("extra.txt"), "new file\n", "paths limited the restore");

    // The safety snapshot holds the edit: restoring it undoes the restore.
    const [newest] = (await client.snapshots({ limit: 1 })).snapshots;
    assert.equal(newest?.id, applied.safetySnapshot);
    // protocol.md: "labelled `before restore from <id>`"; the daemon writes a 12-digit prefix.
    const restoredFrom = /^before restore from ([0-9a-f]+)$/.exec(newest?.label ?? "")?.[1];
    assert.ok(restoredFrom !== undefined && snap.id.startsWith(restoredFrom), newest?.label);
    await client.restore({ from: applied.safetySnapshot!, paths: ["a.txt"], dryRun: false });
    assert.equal(sb.read("a.txt"), "edited by an agent\n");
  });

  test("a stale plan token is refused with -31009 and nothing is written", async () => {
    sb.write("a.txt", "one\n");
    const client = await sb.spawn({ autoSnapshot: false });
    const snap = await client.snapshot();
    sb.write("a.txt", "two\n");
    const plan = await client.restore({ from: snap.id });
    sb.write("a.txt", "three, changed after the dry run\n");
    const err = await rejectsWith(
      client.restore({ from: snap.id, dryRun: false, planToken: plan.planToken }),
      ErrorCodes.PlanStale,
      "planToken",
    );
    assert.equal(err.codeName, "PlanStale");
    assert.equal(sb.read("a.txt"), "three, changed after the dry run\n");
  });

  test("iterRestorePlan follows nextCursor across pages", async () => {
    for (let i = 0; i < 12; i++) sb.write(`f${String(i).padStart(2, "0")}.txt`, `v1 ${i}\n`);
    const client = await sb.spawn({ autoSnapshot: false });
    const snap = await client.snapshot();
    for (let i = 0; i < 12; i++) sb.write(`f${String(i).padStart(2, "0")}.txt`, `v2 ${i}\n`);

    const first = await client.restore({ from: snap.id, limit: 5 });
    assert.equal(first.plan.length, 5);
    assert.ok(first.nextCursor);
    assert.equal(first.written, 12, "totals cover the whole plan");
    const all = await collect(client.iterRestorePlan({ from: snap.id, limit: 5 }));
    assert.deepEqual(
      all.map((a) => a.path),
      Array.from({ length: 12 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`),
    );
    assert.ok(all.every((a) => a.action === "write"));
    // Starting from a page already fetched gives the same plan.
    assert.deepEqual(await collect(client.iterRestorePlan({ from: snap.id, limit: 5 }, first)), all);
  });
});

describe("snapd/revert and sessions", () => {
  test("a session's step comes out, later edits stay, conflicts are left alone", async () => {
    const body = Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join("");
    sb.write("x.txt", body);
    sb.write("c.txt", body);
    const client = await sb.spawn({ autoSnapshot: false });
    const start = await client.snapshot({ label: "turn start", session: "agent" });
    assert.equal(start.session, "agent");
    sb.write("x.txt", body.replace("line 2\n", "agent 2\n"));
    sb.write("c.txt", body.replace("line 9\n", "agent 9\n"));
    sb.write("new.txt", "agent\n");
    const end = await client.snapshot({ label: "turn end", session: "agent" });
    sb.write("x.txt", body.replace("line 2\n", "agent 2\n").replace("line 15\n", "user 15\n"));
    sb.write("c.txt", body.replace("line 9\n", "user 9\n"));
    await client.snapshot({ label: "user" });

    const steps = (await client.snapshots({ session: "agent" })).snapshots;
    assert.deepEqual(steps.map((s) => [s.id, s.session]), [[end.id, "agent"], [start.id, "agent"]]);
    const plan = await client.revert({ from: start.id, to: end.id });
    assert.deepEqual(
      plan.plan.map((a) => [a.path, a.action, a.change, a.conflict]),
      [
        ["c.txt", "conflict", undefined, "overlapping-edits"],
        ["new.txt", "revert", "delete", undefined],
        ["x.txt", "merge", "write", undefined],
      ],
    );
    assert.deepEqual(plan.plan[0]?.hunks?.[0]?.lines, ["-line 9", "+agent 9"]);
    assert.deepEqual([plan.reverted, plan.merged, plan.conflicted, plan.kept], [1, 1, 1, 0]);
    assert.deepEqual(await collect(client.iterRevertPlan({ from: start.id, to: end.id, limit: 1 })), plan.plan);

    const done = await client.revert({ from: start.id, to: end.id, dryRun: false, planToken: plan.planToken });
    assert.equal(done.applied, true);
    assert.match(done.safetySnapshot ?? "", /^[0-9a-f]{40}$/);
    assert.equal(sb.read("x.txt"), body.replace("line 15\n", "user 15\n"));
    assert.equal(sb.read("c.txt"), body.replace("line 9\n", "user 9\n"));
    assert.ok(!fs.existsSync(path.join(sb.root, "new.txt")));
  });
});

describe("snapd/pin, snapd/gc, snapd/stats", () => {
  test("gc keeps a pinned snapshot and drops unpinned old ones", async () => {
    const client = await sb.spawn({
      retainLatest: 1,
      retainCount: 1,
      gcGraceSeconds: 0,
      autoGc: false,
      autoSnapshot: false,
    });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      sb.write("a.txt", `version ${i}\n`);
      const snap = await client.snapshot();
      assert.equal(snap.created, true);
      ids.push(snap.id);
    }
    const [pinnedId, droppable] = ids;

    const pinned = await client.pin(pinnedId!.slice(0, 8));
    assert.deepEqual(pinned, { id: pinnedId, pinned: true });

    const dry = await client.gc({ dryRun: true });
    assert.deepEqual(dry.dropped, [droppable]);
    assert.equal((await collect(client.iterSnapshots())).length, 4, "a dry run drops nothing");

    const gc = await client.gc();
    assert.deepEqual(gc.dropped, [droppable]);
    assert.equal(gc.kept, 3);
    const left = (await collect(client.iterSnapshots())).map((s) => s.id);
    assert.ok(left.includes(pinnedId!), "the pinned snapshot survives");
    assert.ok(!left.includes(droppable!));
    assert.deepEqual(left, [ids[3], ids[2], pinnedId]);

    const stats = await client.stats();
    assert.equal(stats.pinned, 1);
    assert.equal(stats.snapshots, 3);

    assert.deepEqual(await client.pin(pinnedId!, false), { id: pinnedId, pinned: false });
    assert.equal((await client.stats()).pinned, 0);
    await rejectsWith(client.pin("zzzz"), ErrorCodes.UnknownSnapshot);
  });

  test("stats describes the store", async () => {
    sb.write(".gitignore", "*.log\n");
    sb.write("debug.log", "x".repeat(1000));
    sb.write("big.txt", "y".repeat(5000));
    const client = await sb.spawn({ autoSnapshot: false });
    await client.snapshot();
    const stats = await client.stats();
    assert.ok(stats.snapshots >= 1);
    assert.ok(stats.storeBytes > 0);
    assert.ok(stats.capturedBytes >= 5000);
    assert.equal(typeof stats.dedupRatio, "number");
    assert.equal(stats.largestPaths[0]?.path, "big.txt");
    assert.equal(stats.largestPaths[0]?.bytes, 5000);
    assert.equal(stats.largestPaths[0]?.versions, 1);
    assert.equal(stats.skippedBytesByRule["ignore-file"], 1000);
  });

  test("daemonStatus names a standalone daemon and its one client", async () => {
    const client = await sb.spawn({ autoSnapshot: false });
    const st = await client.daemonStatus();
    assert.equal(st.shared, false);
    assert.equal(st.socket, undefined);
    assert.ok(st.pid > 0 && st.startedAt > 0);
    assert.equal(st.clients.length, 1);
    assert.equal(st.clients[0]?.you, true);
    assert.deepEqual(st.clients[0]?.requests, []);
  });
});

describe("notifications", () => {
  test("didSnapshot arrives after a requested snapshot", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn({ autoSnapshot: false });
    const seen: DidSnapshotParams[] = [];
    const all = client.onDidSnapshot((p) => seen.push(p));
    const first = await client.snapshot({ label: "one" });
    const note = await waitFor(client, () => seen.find((p) => p.id === first.id));
    assert.equal(note.label, "one");
    assert.equal(note.auto, undefined);
    assert.ok(note.consistency === "exact" || note.consistency === "reconciled");
    assert.equal(note.parent, undefined);

    // A second subscriber sees the next one; a disposed one does not.
    all.dispose();
    sb.write("a.txt", "b\n");
    const next = nextEvent<DidSnapshotParams>((cb) => client.onDidSnapshot(cb));
    const second = await client.snapshot();
    const got = await next;
    assert.equal(got.id, second.id);
    assert.equal(got.parent, first.id);
    assert.equal(got.changed, 1);
    assert.equal(seen.length, 1);
  });

  test("didChange reports edited paths and an automatic snapshot follows", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn({ quietMs: 300, notifyIntervalMs: 100 });
    await client.snapshot();
    await waitFor(client, async () => ((await client.status()).watcher === "watching" ? true : undefined));
    const changed = nextEvent<DidChangeParams>(
      (cb) => client.onDidChange(cb),
      (p) => p.paths.includes("b.txt"),
    );
    const auto = nextEvent<DidSnapshotParams>(
      (cb) => client.onDidSnapshot(cb),
      (p) => p.auto === true,
    );
    sb.write("b.txt", "new\n");
    const change = await changed;
    assert.ok(change.count >= 1);
    const snap = await auto;
    assert.equal(snap.auto, true);
    const [newest] = (await client.snapshots({ limit: 1 })).snapshots;
    assert.equal(newest?.id, snap.id);
    assert.equal(newest?.auto, true);
  });
});

describe("events and typed messages", () => {
  test("every listener gets each notification; a throwing one does not starve the others", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn({ autoSnapshot: false });
    const kept: string[] = [];
    const once: string[] = [];
    const twice: string[] = [];
    const record = (p: DidSnapshotParams) => twice.push(p.id);
    // vscode-jsonrpc's Emitter logs a throwing listener's error with console.error.
    const logged: unknown[] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void logged.push(args[0]);
    try {
      client.onDidSnapshot(() => {
        throw new Error("listener failed");
      });
      client.onDidSnapshot((p) => kept.push(p.id));
      const first = client.onDidSnapshot((p) => once.push(p.id));
      client.onDidSnapshot(record);
      const second = client.onDidSnapshot(record);
      // Listeners run in subscription order, so the ones above have run when this one resolves.
      const a = nextEvent<DidSnapshotParams>((cb) => client.onDidSnapshot(cb));
      const s1 = await client.snapshot();
      assert.equal((await a).id, s1.id);
      first.dispose();
      second.dispose();
      second.dispose(); // disposing twice removes nothing more
      sb.write("a.txt", "b\n");
      const b = nextEvent<DidSnapshotParams>((cb) => client.onDidSnapshot(cb));
      const s2 = await client.snapshot();
      assert.equal((await b).id, s2.id);
      assert.deepEqual(kept, [s1.id, s2.id]);
      assert.deepEqual(once, [s1.id]);
      assert.deepEqual(twice, [s1.id, s1.id, s2.id]);
      assert.equal(logged.length, 2);
      assert.match(String(logged[0]), /listener failed/);
    } finally {
      console.error = consoleError;
    }
  });

  test("close disposes the events: later notifications reach no listener", async () => {
    const client = await sb.spawn({ autoSnapshot: false });
    const seen: DidSnapshotParams[] = [];
    client.onDidSnapshot((p) => seen.push(p));
    await client.close();
    // Fire through the connection's handler as a late notification would: nothing is delivered.
    (client as unknown as { didSnapshot: { fire(p: DidSnapshotParams): void } }).didSnapshot.fire({
      id: "0".repeat(40),
      changed: 0,
      consistency: "reconciled",
    });
    assert.deepEqual(seen, []);
  });

  test("the generated request types name the daemon's methods and type their results", async () => {
    sb.write("a.txt", "a\n");
    const client = await sb.spawn({ autoSnapshot: false });
    assert.deepEqual(Object.values(Methods).sort(), client.methods);
    assert.equal(StatusRequest.type.method, "snapd/status");
    assert.equal(DidSnapshotNotification.type.method, Notifications.didSnapshot);
    const snap = await client.request(SnapshotRequest.type, { label: "typed" });
    const status = await client.request(StatusRequest.type, {});
    assert.equal(status.head, snap.id);
    const err = await rejectsWith(client.request(DiffRequest.type, { from: "f".repeat(40) }), ErrorCodes.UnknownSnapshot);
    assert.equal(err.method, "snapd/diff");
  });
});

/** Poll `probe` until it returns a value (not undefined), for at most `ms`. */
async function waitFor<T>(
  _client: SnapdClient,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 10000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
