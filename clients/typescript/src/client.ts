import { spawn as spawnProcess, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import {
  CancellationToken,
  createMessageConnection,
  Emitter,
  ProgressType,
  RequestType,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  type Disposable,
  type Event,
  type MessageConnection,
} from "vscode-jsonrpc/node";

import { SnapdConnectionError, SnapdError } from "./errors";
import {
  LifecycleMethods,
  type ErrorData,
  type InitializeParams,
  type InitializeResult,
  type ProgressToken,
  type SnapshotRef,
  type WorkDoneProgress,
} from "./lsp";
import {
  DidChangeNotification,
  DaemonStatusRequest,
  DidSnapshotNotification,
  DiffRequest,
  ExplainRequest,
  GcRequest,
  HunksRequest,
  PinRequest,
  RestoreRequest,
  RevertRequest,
  SnapshotRequest,
  SnapshotsRequest,
  StatsRequest,
  StatusRequest,
  type DaemonStatusResult,
  type DidChangeParams,
  type DidSnapshotParams,
  type DiffParams,
  type DiffResult,
  type ExplainParams,
  type ExplainResult,
  type FileChange,
  type GcParams,
  type GcResult,
  type Hunk,
  type HunksParams,
  type HunksResult,
  type InitializationOptions,
  type PinResult,
  type RestoreAction,
  type RestoreParams,
  type RestoreResult,
  type RevertAction,
  type RevertParams,
  type RevertResult,
  type SnapshotParams,
  type SnapshotResult,
  type SnapshotsParams,
  type SnapshotsResult,
  type SnapshotSummary,
  type StatsResult,
  type StatusResult,
} from "./types";

/** Options of {@link SnapdClient.spawn}. */
export interface SpawnOptions {
  /** The worktree (passed as `--root` and as `initialize`'s `rootUri`). */
  root: string;
  /** The sidecar store directory (`--store`); default: the daemon's per-worktree default. */
  store?: string;
  /** Log file (`--log-file`); the daemon's stderr is discarded unless `stderr` says otherwise. */
  logFile: string;
  /** Python interpreter; default `$SNAPD_PYTHON`, else `python3`. */
  python?: string;
  /**
   * Serve this client in a private daemon process (`--standalone`) instead of through the
   * worktree's shared daemon, which `snapd --stdio` joins (or starts) by default.
   */
  standalone?: boolean;
  /**
   * `clientInfo.name` sent with `initialize` (default `@snapd/client`): a shared daemon records
   * it with the snapshots this client takes and names the client by it.
   */
  clientName?: string;
  /** Extra daemon arguments appended to the default command (e.g. `["-v"]`). */
  args?: string[];
  /**
   * The full command line (argv) to run instead of `python -m snapd --stdio --root ... `.
   * It must start a daemon speaking the protocol on stdin/stdout. `args` is still appended.
   */
  command?: string[];
  /** `initializationOptions` sent with `initialize`. */
  initializationOptions?: InitializationOptions;
  /** Environment of the daemon process (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the daemon process. */
  cwd?: string;
  /**
   * What to do with the daemon's stderr. By default it is read and dropped except for its last
   * few KiB, which explain a daemon that dies during start-up in the spawn error.
   */
  stderr?: "ignore" | "inherit";
}

/** Options of {@link SnapdClient.close}. */
export interface CloseOptions {
  /** Milliseconds to wait for the process to exit after `exit` before killing it (default 5000). */
  timeoutMs?: number;
}

/** Paged params without the cursor: the iterators manage it. */
export type IterParams<P> = Omit<P, "cursor">;

/** A notification listener (see {@link SnapdClient.onDidChange}, {@link SnapdClient.onDidSnapshot}). */
export type NotificationListener<P> = (params: P) => void;

/** Bytes of the daemon's stderr kept to explain its death during start-up. */
const STDERR_TAIL = 4096;

/** The command line {@link SnapdClient.spawn} runs by default. */
export function defaultCommand(
  opts: Pick<SpawnOptions, "root" | "store" | "logFile" | "python" | "standalone">,
): string[] {
  const python = opts.python ?? process.env.SNAPD_PYTHON ?? "python3";
  // -P: `python -m` puts the current directory first on sys.path, so a json.py or typing.py
  // in the daemon's cwd would shadow the standard module and kill it at start-up. (-I would
  // also drop PYTHONPATH and the user's site-packages, where snapd may be installed.)
  const argv = [python, "-P", "-m", "snapd", "--stdio", "--root", opts.root];
  if (opts.store !== undefined) argv.push("--store", opts.store);
  argv.push("--log-file", opts.logFile);
  if (opts.standalone === true) argv.push("--standalone");
  return argv;
}

function toSnapdError(err: unknown, method: string): unknown {
  if (err instanceof SnapdError) return err;
  if (err instanceof ResponseError) {
    const data = err.data !== null && typeof err.data === "object" ? (err.data as ErrorData) : undefined;
    return new SnapdError(err.code, err.message, data, method);
  }
  return err;
}

/**
 * A connection to one snapd daemon over JSON-RPC/LSP framing.
 *
 * Use {@link SnapdClient.spawn} to start a daemon and complete the handshake, or construct one
 * around an existing {@link MessageConnection} and call {@link initialize} yourself.
 */
export class SnapdClient {
  private initResult: InitializeResult | undefined;
  private closed = false;
  private readonly exitPromise: Promise<number | null>;
  private readonly didChange = new Emitter<DidChangeParams>();
  private readonly didSnapshot = new Emitter<DidSnapshotParams>();

  /**
   * `snapd/didChange` (the watcher saw paths change; at most one per `notifyIntervalMs`).
   * `client.onDidChange(cb)` subscribes; dispose the result to stop listening. A listener that
   * throws is logged and does not stop the others.
   */
  readonly onDidChange: Event<DidChangeParams> = this.didChange.event;

  /**
   * `snapd/didSnapshot` (a snapshot was recorded, on request or automatically with
   * `auto: true`). `client.onDidSnapshot(cb)` subscribes; dispose the result to stop listening.
   */
  readonly onDidSnapshot: Event<DidSnapshotParams> = this.didSnapshot.event;

  constructor(
    /** The underlying vscode-jsonrpc connection (already listening or not: see `listen`). */
    readonly connection: MessageConnection,
    /** The daemon process, when this client spawned it. */
    readonly process?: ChildProcess,
  ) {
    const proc = process;
    this.exitPromise =
      proc === undefined
        ? Promise.resolve(null)
        : new Promise<number | null>((resolve) => {
            if (proc.exitCode !== null || proc.signalCode !== null) {
              resolve(proc.exitCode);
              return;
            }
            proc.once("exit", (code) => resolve(code));
            proc.once("error", () => resolve(proc.exitCode));
          });
    // One vscode-jsonrpc handler per notification (it keeps only one per method), fanned out by
    // an Emitter to every listener subscribed through onDidChange / onDidSnapshot.
    connection.onNotification(DidChangeNotification.type, (params) => this.didChange.fire(params));
    connection.onNotification(DidSnapshotNotification.type, (params) => this.didSnapshot.fire(params));
    connection.listen();
  }

  /** Spawn `snapd --stdio`, send `initialize` and `initialized`, and return the ready client. */
  static async spawn(opts: SpawnOptions): Promise<SnapdClient> {
    const argv = [...(opts.command ?? defaultCommand(opts)), ...(opts.args ?? [])];
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new TypeError("empty daemon command");
    const proc = spawnProcess(cmd, args, {
      stdio: ["pipe", "pipe", opts.stderr ?? "pipe"],
      env: opts.env,
      cwd: opts.cwd,
    });
    // Drained continuously (a full pipe would block a chatty daemon); only the tail is kept.
    let tail = Buffer.alloc(0);
    proc.stderr?.on("data", (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > STDERR_TAIL) tail = tail.subarray(tail.length - STDERR_TAIL);
    });
    const spawnFailed = new Promise<never>((_, reject) => {
      proc.once("error", (err) => reject(new SnapdConnectionError(`cannot start ${cmd}: ${err.message}`)));
      // "close", not "exit": stderr is read to its end before the error is built.
      proc.once("close", (code, signal) => {
        const how = signal !== null ? `signal ${signal}` : `status ${code}`;
        const lines = tail
          .toString("utf8")
          .split("\n")
          .filter((line) => line.trim() !== "")
          .slice(-5);
        const said =
          proc.stderr === null ? "" : lines.length > 0 ? `: ${lines.join("\n")}` : " (it wrote nothing on stderr)";
        reject(new SnapdConnectionError(`snapd exited during initialize with ${how}${said}`));
      });
    });
    spawnFailed.catch(() => undefined); // only observed through the race below
    const connection = createMessageConnection(
      new StreamMessageReader(proc.stdout!),
      new StreamMessageWriter(proc.stdin!),
    );
    // Writes to a dead daemon must not crash the host process.
    proc.stdin!.on("error", () => undefined);
    const client = new SnapdClient(connection, proc);
    try {
      await Promise.race([
        client.initialize({
          processId: globalThis.process.pid,
          rootUri: pathToFileURL(path.resolve(opts.root)).href,
          capabilities: {},
          ...(opts.initializationOptions !== undefined
            ? { initializationOptions: opts.initializationOptions }
            : {}),
          clientInfo: { name: opts.clientName ?? "@snapd/client" },
        }),
        spawnFailed,
      ]);
    } catch (err) {
      client.closed = true;
      connection.dispose();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill();
      await client.exitPromise;
      throw err;
    }
    return client;
  }

  // -- lifecycle ----------------------------------------------------------------------------------

  /** Send `initialize` then the `initialized` notification; returns the initialize result. */
  async initialize(params: InitializeParams): Promise<InitializeResult> {
    const result = await this.request<InitializeResult>(LifecycleMethods.initialize, params);
    this.initResult = result;
    await this.connection.sendNotification(LifecycleMethods.initialized, {});
    return result;
  }

  /** The `initialize` result (undefined before the handshake). */
  get initializeResult(): InitializeResult | undefined {
    return this.initResult;
  }

  /** `capabilities.experimental.snapd.protocolVersion` from `initialize`. */
  get protocolVersion(): string | undefined {
    return this.initResult?.capabilities.experimental?.snapd?.protocolVersion;
  }

  /** `capabilities.experimental.snapd.methods` from `initialize`. */
  get methods(): string[] {
    return this.initResult?.capabilities.experimental?.snapd?.methods ?? [];
  }

  /**
   * `shutdown`, then `exit`, then wait for the daemon process to exit (killing it after
   * `timeoutMs`). Returns the process exit code (null without a process or when killed).
   * Safe to call more than once.
   */
  async close(opts: CloseOptions = {}): Promise<number | null> {
    if (this.closed) return this.exitPromise;
    this.closed = true;
    const proc = this.process;
    const alive = proc !== undefined && proc.exitCode === null && proc.signalCode === null;
    try {
      if (alive || proc === undefined) {
        await this.request(LifecycleMethods.shutdown);
        await this.connection.sendNotification(LifecycleMethods.exit);
      }
    } finally {
      if (proc !== undefined) {
        proc.stdin?.end();
        const timeoutMs = opts.timeoutMs ?? 5000;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), timeoutMs);
        });
        const outcome = await Promise.race([this.exitPromise, timedOut]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          proc.kill("SIGKILL");
          await this.exitPromise;
        }
      }
      this.connection.dispose();
      this.didChange.dispose();
      this.didSnapshot.dispose();
    }
    return this.exitPromise;
  }

  /** Resolves with the daemon's exit code when its process exits. */
  get exited(): Promise<number | null> {
    return this.exitPromise;
  }

  // -- plumbing -----------------------------------------------------------------------------------

  /**
   * Send any request, by its generated vscode-jsonrpc type (`DiffRequest.type`: params and
   * result typed) or by method name; daemon errors reject with {@link SnapdError}.
   */
  async request<P, R, E>(type: RequestType<P, R, E>, params: P, token?: CancellationToken): Promise<R>;
  async request<R>(method: string, params?: object, token?: CancellationToken): Promise<R>;
  async request<R>(
    method: string | RequestType<unknown, R, unknown>,
    params?: unknown,
    token?: CancellationToken,
  ): Promise<R> {
    const name = typeof method === "string" ? method : method.method;
    try {
      // Pass only what is given: vscode-jsonrpc would send a trailing `undefined` as `null`.
      const args: unknown[] = params === undefined ? [] : [params];
      if (token !== undefined) args.push(token);
      return await this.connection.sendRequest<R>(name, ...args);
    } catch (err) {
      throw toSnapdError(err, name);
    }
  }

  /** Listen to `$/progress` for `token` (e.g. the `workDoneToken` of `snapshot`). */
  onProgress(token: ProgressToken, cb: (value: WorkDoneProgress) => void): Disposable {
    return this.connection.onProgress(new ProgressType<WorkDoneProgress>(), token, cb);
  }

  // -- snapd/* ------------------------------------------------------------------------------------

  /** `snapd/snapshot`: capture the worktree now. */
  snapshot(params: SnapshotParams = {}, token?: CancellationToken): Promise<SnapshotResult> {
    return this.request(SnapshotRequest.type, params, token);
  }

  /** `snapd/snapshots`: one page of snapshots, newest first. */
  snapshots(params: SnapshotsParams = {}, token?: CancellationToken): Promise<SnapshotsResult> {
    return this.request(SnapshotsRequest.type, params, token);
  }

  /** `snapd/status`: the daemon's state. */
  status(token?: CancellationToken): Promise<StatusResult> {
    return this.request(StatusRequest.type, {}, token);
  }

  /** `snapd/diff`: one page of changed files. */
  diff(params: DiffParams, token?: CancellationToken): Promise<DiffResult> {
    return this.request(DiffRequest.type, params, token);
  }

  /** `snapd/hunks`: one page of one file's hunks. */
  hunks(params: HunksParams, token?: CancellationToken): Promise<HunksResult> {
    return this.request(HunksRequest.type, params, token);
  }

  /** `snapd/explain`: the capture policy's decision for one path. */
  explain(params: ExplainParams, token?: CancellationToken): Promise<ExplainResult> {
    return this.request(ExplainRequest.type, params, token);
  }

  /**
   * `snapd/restore`: plan a restore (`dryRun` defaults to `true`), or apply it with
   * `dryRun: false` (pass the dry run's `planToken` to refuse a plan the worktree no longer
   * matches: -31009 `PlanStale`). An applied result's `safetySnapshot` undoes the restore.
   */
  restore(params: RestoreParams, token?: CancellationToken): Promise<RestoreResult> {
    return this.request(RestoreRequest.type, params, token);
  }

  /**
   * `snapd/revert`: plan taking one step (`from` -> `to`) out of the worktree while keeping every
   * later edit (`dryRun` defaults to `true`), or do it with `dryRun: false` and the dry run's
   * `planToken`. Each file the step changed is `revert`ed, `merge`d or left alone as a
   * `conflict`; an applied result's `safetySnapshot` undoes the revert.
   */
  revert(params: RevertParams, token?: CancellationToken): Promise<RevertResult> {
    return this.request(RevertRequest.type, params, token);
  }

  /** `snapd/pin`: pin a snapshot (retention never drops it), or unpin it with `pinned: false`. */
  pin(id: SnapshotRef, pinned = true, token?: CancellationToken): Promise<PinResult> {
    return this.request(PinRequest.type, { id, pinned }, token);
  }

  /** `snapd/gc`: apply the retention policy and collect garbage now (or only plan: `dryRun`). */
  gc(params: GcParams = {}, token?: CancellationToken): Promise<GcResult> {
    return this.request(GcRequest.type, params, token);
  }

  /** `snapd/stats`: where the store's disk goes. */
  stats(token?: CancellationToken): Promise<StatsResult> {
    return this.request(StatsRequest.type, {}, token);
  }

  /** `snapd/daemonStatus`: who the daemon is (pid, shared or standalone) and what its clients do. */
  daemonStatus(token?: CancellationToken): Promise<DaemonStatusResult> {
    return this.request(DaemonStatusRequest.type, {}, token);
  }

  // -- paging iterators ---------------------------------------------------------------------------

  /** Every snapshot, newest first, following `nextCursor`. */
  iterSnapshots(params: IterParams<SnapshotsParams> = {}, token?: CancellationToken): AsyncGenerator<SnapshotSummary> {
    return this.paginate((cursor) => this.snapshots({ ...params, ...cursor }, token), (r) => r.snapshots);
  }

  /** Every changed file, in path order, following `nextCursor`. */
  iterDiff(params: IterParams<DiffParams>, token?: CancellationToken): AsyncGenerator<FileChange> {
    return this.paginate((cursor) => this.diff({ ...params, ...cursor }, token), (r) => r.files);
  }

  /**
   * Every hunk of one file, in file order, following `nextCursor`. Use {@link hunks} directly to
   * see `binary`, `skipped` and `truncated` (they are the same on every page).
   */
  iterHunks(params: IterParams<HunksParams>, token?: CancellationToken): AsyncGenerator<Hunk> {
    return this.paginate((cursor) => this.hunks({ ...params, ...cursor }, token), (r) => r.hunks);
  }

  /**
   * Every action of a restore plan, in path order, following `nextCursor`.
   *
   * The first page is `first` when given (the result of {@link restore} called with the same
   * `from`, `paths`, `patterns`, `hunks` and `force`: a dry run or an applied restore), else the result of
   * `restore(params)` (a dry run unless `params.dryRun` is `false`). Further pages are requested
   * with the selecting params and the cursor only (a cursor never applies anything).
   */
  async *iterRestorePlan(
    params: IterParams<RestoreParams>,
    first?: RestoreResult,
    token?: CancellationToken,
  ): AsyncGenerator<RestoreAction> {
    const { dryRun: _dryRun, planToken: _planToken, ...selecting } = params;
    let page = first ?? (await this.restore(params, token));
    for (;;) {
      yield* page.plan;
      if (page.nextCursor === undefined) return;
      page = await this.restore({ ...selecting, cursor: page.nextCursor }, token);
    }
  }

  /**
   * Every action of a revert plan, in path order, following `nextCursor` (as {@link iterRestorePlan}:
   * `first` is the result of {@link revert} with the same `from`, `to`, `paths` and `force`).
   */
  async *iterRevertPlan(
    params: IterParams<RevertParams>,
    first?: RevertResult,
    token?: CancellationToken,
  ): AsyncGenerator<RevertAction> {
    const { dryRun: _dryRun, planToken: _planToken, ...selecting } = params;
    let page = first ?? (await this.revert(params, token));
    for (;;) {
      yield* page.plan;
      if (page.nextCursor === undefined) return;
      page = await this.revert({ ...selecting, cursor: page.nextCursor }, token);
    }
  }

  private async *paginate<R extends { nextCursor?: string }, T>(
    fetch: (cursor: { cursor?: string }) => Promise<R>,
    items: (page: R) => T[],
  ): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const page: R = await fetch(cursor === undefined ? {} : { cursor });
      yield* items(page);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }
}
