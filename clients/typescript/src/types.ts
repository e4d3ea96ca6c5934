/**
 * Wire types of snapd's protocol (protocol version 0.1), as documented in `protocol.md`.
 *
 * Field names are the camelCase wire names. Optional fields (default column `absent`, or a
 * default that snapd omits from results such as `false` or `{}`) are marked `?`.
 */

/** The wire protocol version this client was written against. */
export const PROTOCOL_VERSION = "0.2";

// -- method names ---------------------------------------------------------------------------------

export const Methods = {
  snapshot: "snapd/snapshot",
  snapshots: "snapd/snapshots",
  status: "snapd/status",
  diff: "snapd/diff",
  hunks: "snapd/hunks",
  explain: "snapd/explain",
  restore: "snapd/restore",
  pin: "snapd/pin",
  gc: "snapd/gc",
  stats: "snapd/stats",
} as const;
export type SnapdMethod = (typeof Methods)[keyof typeof Methods];

export const SNAPD_SNAPSHOT = Methods.snapshot;
export const SNAPD_SNAPSHOTS = Methods.snapshots;
export const SNAPD_STATUS = Methods.status;
export const SNAPD_DIFF = Methods.diff;
export const SNAPD_HUNKS = Methods.hunks;
export const SNAPD_EXPLAIN = Methods.explain;
export const SNAPD_RESTORE = Methods.restore;
export const SNAPD_PIN = Methods.pin;
export const SNAPD_GC = Methods.gc;
export const SNAPD_STATS = Methods.stats;

/** Server -> client notification names. */
export const Notifications = {
  didChange: "snapd/didChange",
  didSnapshot: "snapd/didSnapshot",
} as const;
export type SnapdNotification = (typeof Notifications)[keyof typeof Notifications];

export const SNAPD_DID_CHANGE = Notifications.didChange;
export const SNAPD_DID_SNAPSHOT = Notifications.didSnapshot;

/** LSP lifecycle and base-protocol method names snapd speaks. */
export const LifecycleMethods = {
  initialize: "initialize",
  initialized: "initialized",
  shutdown: "shutdown",
  exit: "exit",
  progress: "$/progress",
  cancelRequest: "$/cancelRequest",
} as const;

// -- error codes ----------------------------------------------------------------------------------

/** Every error code of protocol.md's Errors table. */
export const ErrorCodes = {
  /** The body is not valid JSON, or the frame's headers are malformed (`id` null). */
  ParseError: -32700,
  /** Not a JSON-RPC 2.0 object (batches unsupported), or a request after `shutdown`. */
  InvalidRequest: -32600,
  /** Unknown method. */
  MethodNotFound: -32601,
  /** A param has the wrong type or value; `data.field` names it. */
  InvalidParams: -32602,
  /** An unexpected server error. */
  InternalError: -32603,
  /** A request arrived before `initialize`. */
  ServerNotInitialized: -32002,
  /** The request was cancelled by `$/cancelRequest`. */
  RequestCancelled: -32800,
  /** Unknown or ambiguous snapshot reference, or `latest` before the first snapshot. */
  UnknownSnapshot: -31001,
  /** A cursor is malformed, stale, or belongs to a different query. */
  BadCursor: -31002,
  /** A path is absolute, contains `..` or NUL, or resolves outside the worktree. */
  PathOutsideRoot: -31003,
  /** Another live process holds the store's lock; `data.holder` names it. */
  StoreLocked: -31004,
  /** A frame's `Content-Length` exceeds `maxFrameBytes` (`data.limit`). */
  RequestTooLarge: -31005,
  /** No worktree: start with `--root` or send `rootUri`/`workspaceFolders`. */
  NoWorktree: -31006,
  /** The store could not be read or written. */
  StoreFailure: -31007,
  /** The worktree could not be read. */
  WorktreeFailure: -31008,
  /**
   * A restore's `planToken` no longer matches the plan made now: the worktree changed since the
   * dry run. Nothing was written (`data.field` = `planToken`).
   */
  PlanStale: -31009,
} as const;
export type ErrorCodeName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorCodeName];

/** `data` of a snapd error object (all members optional; which ones appear depends on the code). */
export interface ErrorData {
  /** The offending param by its wire name (e.g. `from`, `maxBytes`, `cursor`). */
  field?: string;
  /** -32602 from type checks: one message per bad field. */
  errors?: string[];
  /** -31004: who holds the store lock. */
  holder?: unknown;
  /** -31005: the `maxFrameBytes` limit. */
  limit?: number;
  /** -31007: the damaged object's id (see protocol.md "Store damage"). */
  object?: string;
  /** -31007 from gc: the snapshot ref whose objects could not be walked (nothing was deleted). */
  ref?: string;
  /** -31007 from gc: the snapshots it dropped before it stopped. */
  dropped?: string[];
  /** -31007 from a restore stopped by a damaged object: the file it stopped at (left as it was). */
  path?: string;
  /** -31007 from a stopped restore: restore this snapshot to undo what was done. */
  safetySnapshot?: string;
  /** -31007 from a stopped restore: the first paths written / deleted, and how many in all. */
  written?: string[];
  deleted?: string[];
  writtenCount?: number;
  deletedCount?: number;
  [key: string]: unknown;
}

// -- shared scalar types --------------------------------------------------------------------------

/** An LSP progress token. */
export type ProgressToken = number | string;

/** A snapshot reference: a 40-hex id, a unique prefix of at least 4 hex digits, or `latest`. */
export type SnapshotRef = string;

export type ChangeStatus = "added" | "modified" | "deleted";
/** `generated` means captured but summarised in diffs. */
export type Outcome = "captured" | "generated" | "skipped";
export type SkipSide = "old" | "new" | "both";
/** `file`, `symlink`, `dir` (skipped directories) or `special`. */
export type FileKind = "file" | "symlink" | "dir" | "special";
export type TruncatedReason = "line-cap" | "time-budget" | "window" | "long-line";
/**
 * How a capture knew what changed: `exact` = the watcher was synced and only the directories it
 * reported were listed; `reconciled` = a full walk.
 */
export type Consistency = "exact" | "reconciled";
/** `watching`, `starting`, `degraded` (events not trusted: every snapshot walks) or `off`. */
export type WatcherState = "watching" | "starting" | "degraded" | "off" | (string & {});
/** What a restore does with one path. */
export type RestoreActionKind = "write" | "create" | "delete" | "keep";
/** Rules that recognise a captured file as generated (`GeneratedInfo.rule`). */
export type GeneratedRule =
  | "lockfile"
  | "content-marker"
  | "gitattributes"
  | "generated-name"
  | "shape"
  | (string & {});

/** Capture rules named by protocol.md (others may appear in later versions). */
export type CaptureRule =
  | "git-dir"
  | "special-file"
  | "size-limit"
  | "ignore-file"
  | "force-exclude"
  | "build-dir"
  | "build-file"
  | "snapshot-budget"
  | "new-files-budget"
  | "binary"
  | "unreadable"
  | "unstable"
  | "captured"
  | GeneratedRule;

/** Rule names `disabledRules` accepts. */
export type DisableableRule =
  | "ignore-file"
  | "gitattributes"
  | "build-dir"
  | "build-file"
  | "lockfile"
  | "generated-name"
  | "binary"
  | "content-marker"
  | "shape"
  | "snapshot-budget"
  | "new-files-budget"
  | (string & {});

// -- lifecycle ------------------------------------------------------------------------------------

/**
 * `initializationOptions` keys (all optional). Numbers must be positive (integers except
 * `diffTimeout`); the pattern and rule lists are arrays of strings.
 */
export interface InitializationOptions {
  contentLimit?: number;
  sniffBytes?: number;
  pageBytes?: number;
  maxPageBytes?: number;
  pageLimit?: number;
  maxPageLimit?: number;
  diffMaxBytes?: number;
  diffMaxLines?: number;
  diffTimeout?: number;
  maxLineChars?: number;
  maxFrameBytes?: number;
  /** Most bytes of new or changed content one snapshot reads (rule `snapshot-budget`). */
  snapshotByteBudget?: number;
  /** More new entries than this in one directory: one skipped entry (rule `new-files-budget`). */
  dirNewFileBudget?: number;
  /** gitignore-syntax patterns always captured. */
  forceInclude?: string[];
  /** gitignore-syntax patterns never captured (rule `force-exclude`). */
  forceExclude?: string[];
  /** Capture rules switched off by name. */
  disabledRules?: DisableableRule[];
  /** Watch the worktree so snapshots list only changed directories (default `true`). */
  watch?: boolean;
  /** Snapshot by itself after `quietMs` of quiet (needs `watch`; default `true`). */
  autoSnapshot?: boolean;
  /** Quiet period before an automatic snapshot, in milliseconds (default 2000). */
  quietMs?: number;
  /** Seconds after which the next snapshot walks the whole tree anyway (default 600). */
  reconcileInterval?: number;
  /** How long a snapshot waits for the watcher to catch up, in milliseconds (default 2000). */
  syncTimeoutMs?: number;
  /** Least time between two `snapd/didChange` notifications, in milliseconds (default 1000). */
  notifyIntervalMs?: number;
  /** The newest snapshots retention never drops (default 20). */
  retainLatest?: number;
  /** Most unpinned, unlabelled snapshots kept besides the newest `retainLatest` (default 1000). */
  retainCount?: number;
  /** Unpinned, unlabelled snapshots older than this many days are dropped (default 30). */
  retainDays?: number;
  /** Store size that triggers collection (default 4 GiB). */
  storeBudgetBytes?: number;
  /** Unreferenced objects younger than this many seconds survive a collection (default 3600). */
  gcGraceSeconds?: number;
  /** Collect in the background after snapshots when retention has work (default `true`). */
  autoGc?: boolean;
  /** Serve a worktree that is `/` or the user's home directory (default `false`). */
  allowBroadRoot?: boolean;
}

export interface WorkspaceFolder {
  uri: string;
  name: string;
}

/** The `initialize` params snapd reads (plus the LSP-required `processId` and `capabilities`). */
export interface InitializeParams {
  processId: number | null;
  rootUri?: string | null;
  rootPath?: string | null;
  workspaceFolders?: WorkspaceFolder[] | null;
  capabilities: Record<string, unknown>;
  initializationOptions?: InitializationOptions;
  clientInfo?: { name: string; version?: string };
}

export interface SnapdServerCapabilities {
  protocolVersion: string;
  /** Sorted list of the `snapd/*` methods the server supports. */
  methods: string[];
}

export interface InitializeResult {
  capabilities: {
    experimental?: { snapd?: SnapdServerCapabilities; [key: string]: unknown };
    [key: string]: unknown;
  };
  serverInfo?: { name: string; version?: string };
}

// -- nested types ---------------------------------------------------------------------------------

/** Why a file's content is not in the snapshot. */
export interface SkipInfo {
  reason: string;
  rule: CaptureRule;
  /** Default `"new"` (omitted when it holds the default). */
  side?: SkipSide;
  evidence?: string;
  /**
   * For a skipped directory: the files under it (a bounded walk counts up to 10000), or for
   * `new-files-budget` the new entries that tripped the budget.
   */
  count?: number;
}

/** Why a captured file counts as generated. */
export interface GeneratedInfo {
  rule: GeneratedRule;
  reason: string;
  evidence?: string;
}

/** One snapshot as `snapd/snapshots` lists it. */
export interface SnapshotSummary {
  id: string;
  time: number;
  files: number;
  bytes: number;
  skipped: number;
  skippedBytes: number;
  changed: number;
  parent?: string;
  label?: string;
  /** Skipped paths counted by rule; default `{}` (omitted when empty). */
  rules?: Record<string, number>;
  /** Captured files counted by the rule that recognised them as generated; default `{}`. */
  generated?: Record<string, number>;
  /** How the capture knew what changed; default `"reconciled"` (omitted when it holds it). */
  consistency?: Consistency;
  /** Taken by the daemon after a quiet period; default `false`. */
  auto?: boolean;
}

/** One changed path. */
export interface FileChange {
  path: string;
  status: ChangeStatus;
  /** Default `"file"`. */
  kind?: FileKind;
  oldSize?: number;
  newSize?: number;
  oldMode?: number;
  newMode?: number;
  /** Default `false`. */
  binary?: boolean;
  skipped?: SkipInfo;
  /** The file is captured but generated: summarise it; fetch hunks only on demand. */
  generated?: GeneratedInfo;
}

/** One hunk of a unified diff. */
export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Each line starts with `" "`, `"-"` or `"+"` and has no terminator. */
  lines: string[];
  /** Default `false`. */
  noNewlineOld?: boolean;
  /** Default `false`. */
  noNewlineNew?: boolean;
  /**
   * What this hunk says (16 hex digits of a SHA-256 over everything but `newStart`, see
   * protocol.md): name it by this in `snapd/restore`'s `hunks`.
   */
  digest: string;
  cutLines?: number[];
}

// -- paging ---------------------------------------------------------------------------------------

export interface PageParams {
  cursor?: string;
  limit?: number;
  maxBytes?: number;
}

// -- snapd/snapshot -------------------------------------------------------------------------------

export interface SnapshotParams {
  label?: string;
  workDoneToken?: ProgressToken;
  /** Walk the whole tree even when the watcher could narrow the capture. */
  reconcile?: boolean;
}

export interface SnapshotResult {
  id: string;
  created: boolean;
  time: number;
  files: number;
  bytes: number;
  skipped: number;
  skippedBytes: number;
  changed: number;
  hashed: number;
  /** Default `{}` (omitted when empty). */
  rules?: Record<string, number>;
  /** Captured files recognised as generated, counted by rule; default `{}`. */
  generated?: Record<string, number>;
  /** Bytes read and hashed by this snapshot; default `0` (omitted when 0). */
  hashedBytes?: number;
  /** How this capture knew what changed; default `"reconciled"` (omitted when it holds it). */
  consistency?: Consistency;
  /** True for a snapshot the daemon took after a quiet period; default `false`. */
  auto?: boolean;
  parent?: string;
  label?: string;
}

// -- snapd/snapshots ------------------------------------------------------------------------------

export interface SnapshotsParams extends PageParams {}

export interface SnapshotsResult {
  snapshots: SnapshotSummary[];
  nextCursor?: string;
  /** Damaged snapshot refs left out of the listing, one sentence each; absent when none. */
  warnings?: string[];
}

// -- snapd/status ---------------------------------------------------------------------------------

/** `snapd/status` takes no parameters (send `{}`). */
export interface StatusParams {}

export interface StatusResult {
  root: string;
  store: string;
  version: string;
  protocolVersion: string;
  contentLimit: number;
  storeBytes: number;
  watcher: WatcherState;
  cachedFiles: number;
  head?: string;
  /** Why the watcher is degraded or off. */
  watcherReason?: string;
  /** Paths seen changing since the latest snapshot; `-1`: the next one walks. Default `0`. */
  dirtyPaths?: number;
  /** Events the watcher delivered since start; default `0`. */
  watchEvents?: number;
  /** Whether the daemon snapshots by itself after a quiet period; default `false`. */
  autoSnapshot?: boolean;
  /** Why the worktree is no longer served (its path now leads elsewhere); absent while it is. */
  worktreeError?: string;
  /** Why no snapshot can be recorded (the store directory was deleted or replaced); absent while it can. */
  storeError?: string;
}

// -- snapd/diff -----------------------------------------------------------------------------------

export interface DiffParams extends PageParams {
  from: SnapshotRef;
  /** Absent: the live worktree. */
  to?: SnapshotRef;
  paths?: string[];
}

export interface DiffResult {
  files: FileChange[];
  nextCursor?: string;
}

// -- snapd/hunks ----------------------------------------------------------------------------------

export interface HunksParams extends PageParams {
  from: SnapshotRef;
  path: string;
  /** Absent: the live worktree. */
  to?: SnapshotRef;
  /** Context lines around each change (0..1000), default 3. */
  context?: number;
}

export interface HunksResult {
  hunks: Hunk[];
  nextCursor?: string;
  /** Default `false`. */
  truncated?: boolean;
  truncatedReason?: TruncatedReason;
  /** Default `false`. */
  binary?: boolean;
  skipped?: SkipInfo;
  /** The file is generated; hunks are still returned. */
  generated?: GeneratedInfo;
}

// -- snapd/explain --------------------------------------------------------------------------------

export interface ExplainParams {
  path: string;
}

export interface ExplainResult {
  path: string;
  outcome: Outcome;
  rule: CaptureRule;
  reason: string;
  exists: boolean;
  evidence?: string;
  kind?: FileKind;
  size?: number;
  /** Default `false`. */
  binary?: boolean;
}

// -- snapd/restore --------------------------------------------------------------------------------

/** Some hunks of one file, named by their `digest` in `snapd/hunks` (for `snapd/restore`). */
export interface HunkSelection {
  path: string;
  /**
   * `digest` of each hunk to restore, as `snapd/hunks` lists them for `{from, path, context}`
   * with `to` absent; not empty. A digest no hunk has now gets -31009 (`PlanStale`).
   */
  digests: string[];
  /** The `context` those hunks were listed with (0..1000); default 3. */
  context?: number;
}

/** One path of a restore plan. */
export interface RestoreAction {
  path: string;
  action: RestoreActionKind;
  /** The snapshot's kind, or the worktree's for a deletion; default `"file"`. */
  kind?: FileKind;
  /** Size in the worktree now; absent when the worktree lacks the path. */
  oldSize?: number;
  /** Size after the restore; absent for a deletion. */
  newSize?: number;
  oldMode?: number;
  newMode?: number;
  /** Why a path is kept (on a write: that the safety snapshot keeps the uncaptured live
   * content it replaces). */
  reason?: string;
  /** For a path whose live content was not captured: the capture rule that skipped it. */
  rule?: CaptureRule;
  /** Uncaptured content that `force` allows this restore to overwrite or delete; default `false`. */
  forced?: boolean;
}

export interface RestoreParams extends PageParams {
  from: SnapshotRef;
  /** Literal paths or directories (`app/[id].tsx` is that file); absent with `patterns`
   * absent: the whole tree (not empty). */
  paths?: string[];
  /** gitignore-syntax patterns (`*.py`, `docs/*.md`); a path `paths` or `patterns`
   * selects is restored (not empty). */
  patterns?: string[];
  /** Only these hunks of one file (not together with `paths` or `patterns`). */
  hunks?: HunkSelection;
  /** Default `true`: only plan. `false`: take the safety snapshot and apply. */
  dryRun?: boolean;
  /** `planToken` of an earlier dry run with the same params (else -31009 PlanStale). */
  planToken?: string;
  /** Exact paths whose uncaptured content this restore may overwrite or delete. */
  force?: string[];
}

export interface RestoreResult {
  /** This page of the plan, in path order. */
  plan: RestoreAction[];
  planToken: string;
  applied: boolean;
  /** Paths the whole plan writes or creates. */
  written: number;
  /** Paths the whole plan deletes. */
  deleted: number;
  /** Paths the whole plan keeps. */
  kept: number;
  /** The snapshot taken just before applying: restore it to undo. */
  safetySnapshot?: string;
  /** Planned writes and deletes not done because the path changed meanwhile; default 0. */
  conflicted?: number;
  /** The first 100 of those, as `keep` with the `reason`. */
  conflicts?: RestoreAction[];
  /** `true` when `$/cancelRequest` stopped the restore after its first write (it stopped
   * before its next file; this is what it did); default `false`. */
  cancelled?: boolean;
  /** Planned writes and deletes not done because the restore was cancelled; default 0. */
  remaining?: number;
  nextCursor?: string;
}

// -- snapd/pin ------------------------------------------------------------------------------------

export interface PinParams {
  /** An id, a unique id prefix or `latest`. */
  id: SnapshotRef;
  /** `true` to pin (the default), `false` to unpin. */
  pinned?: boolean;
}

export interface PinResult {
  /** The snapshot's full id. */
  id: string;
  pinned: boolean;
}

// -- snapd/gc -------------------------------------------------------------------------------------

export interface GcParams {
  /** Only report which snapshots the count and age limits would drop; default `false`. */
  dryRun?: boolean;
}

export interface GcResult {
  /** Ids of the snapshots dropped (or that would be). */
  dropped: string[];
  /** Snapshots retained. */
  kept: number;
  /** Defaults `0` / `false` (omitted when they hold them). */
  looseRemoved?: number;
  packed?: number;
  packsRewritten?: number;
  bytesBefore?: number;
  bytesAfter?: number;
  seconds?: number;
  /** Still over `storeBudgetBytes` after dropping all it may. */
  overBudget?: boolean;
  /** The disk was full: unreachable objects were deleted but nothing was packed. */
  diskFull?: boolean;
}

// -- snapd/stats ----------------------------------------------------------------------------------

/** `snapd/stats` takes no parameters (send `{}`). */
export interface StatsParams {}

/** Stored bytes of one path across the retained snapshots. */
export interface PathBytes {
  path: string;
  /** Bytes of its distinct stored versions. */
  bytes: number;
  /** Distinct stored versions. */
  versions: number;
}

export interface StatsResult {
  storeBytes: number;
  looseObjects: number;
  packedObjects: number;
  packs: number;
  /** Snapshots retained. */
  snapshots: number;
  pinned: number;
  /** Sum over the retained snapshots of the bytes they captured. */
  capturedBytes: number;
  /** Bytes of the distinct blobs those snapshots refer to. */
  uniqueBytes: number;
  /** `capturedBytes / uniqueBytes`. */
  dedupRatio: number;
  /** The 20 paths with the most stored bytes. */
  largestPaths: PathBytes[];
  /** In the newest snapshot: bytes not captured, by the rule that skipped them. */
  skippedBytesByRule: Record<string, number>;
}

// -- notifications --------------------------------------------------------------------------------

/** `snapd/didChange`: the watcher saw paths change (a sample of at most 50). */
export interface DidChangeParams {
  /** Changed paths since the previous `snapd/didChange`. */
  count: number;
  /** Up to 50 of them, sorted. */
  paths: string[];
  /** True when `paths` lists fewer than `count`; default `false`. */
  truncated?: boolean;
}

/** `snapd/didSnapshot`: a snapshot was recorded (on request or automatically). */
export interface DidSnapshotParams {
  id: string;
  /** Paths changed against its parent. */
  changed: number;
  consistency: Consistency;
  /** True when the daemon took it after a quiet period; default `false`. */
  auto?: boolean;
  parent?: string;
  label?: string;
}

/** Map from notification name to its params type. */
export interface NotificationTypes {
  "snapd/didChange": DidChangeParams;
  "snapd/didSnapshot": DidSnapshotParams;
}

// -- $/progress -----------------------------------------------------------------------------------

export interface WorkDoneProgressBegin {
  kind: "begin";
  title: string;
  cancellable?: boolean;
  message?: string;
  percentage?: number;
}

export interface WorkDoneProgressReport {
  kind: "report";
  cancellable?: boolean;
  message?: string;
  percentage?: number;
}

export interface WorkDoneProgressEnd {
  kind: "end";
  message?: string;
}

export type WorkDoneProgress = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/** Map from method name to its params and result types. */
export interface MethodTypes {
  "snapd/snapshot": { params: SnapshotParams; result: SnapshotResult };
  "snapd/snapshots": { params: SnapshotsParams; result: SnapshotsResult };
  "snapd/status": { params: StatusParams; result: StatusResult };
  "snapd/diff": { params: DiffParams; result: DiffResult };
  "snapd/hunks": { params: HunksParams; result: HunksResult };
  "snapd/explain": { params: ExplainParams; result: ExplainResult };
  "snapd/restore": { params: RestoreParams; result: RestoreResult };
  "snapd/pin": { params: PinParams; result: PinResult };
  "snapd/gc": { params: GcParams; result: GcResult };
  "snapd/stats": { params: StatsParams; result: StatsResult };
}
