/**
 * Wire types of snapd's protocol (protocol version 0.1), as documented in `protocol.md`.
 *
 * Field names are the camelCase wire names. Optional fields (default column `absent`, or a
 * default that snapd omits from results such as `false` or `{}`) are marked `?`.
 */

/** The wire protocol version this client was written against. */
export const PROTOCOL_VERSION = "0.1";

// -- method names ---------------------------------------------------------------------------------

export const Methods = {
  snapshot: "snapd/snapshot",
  snapshots: "snapd/snapshots",
  status: "snapd/status",
  diff: "snapd/diff",
  hunks: "snapd/hunks",
  explain: "snapd/explain",
} as const;
export type SnapdMethod = (typeof Methods)[keyof typeof Methods];

export const SNAPD_SNAPSHOT = Methods.snapshot;
export const SNAPD_SNAPSHOTS = Methods.snapshots;
export const SNAPD_STATUS = Methods.status;
export const SNAPD_DIFF = Methods.diff;
export const SNAPD_HUNKS = Methods.hunks;
export const SNAPD_EXPLAIN = Methods.explain;

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
export type TruncatedReason = "file-too-large" | "line-cap" | "time-budget";
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
  /** For a directory skipped by `new-files-budget`: how many new entries it had. */
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
  parent?: string;
  label?: string;
}

// -- snapd/snapshots ------------------------------------------------------------------------------

export interface SnapshotsParams extends PageParams {}

export interface SnapshotsResult {
  snapshots: SnapshotSummary[];
  nextCursor?: string;
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
  /** `off` in this version. */
  watcher: string;
  cachedFiles: number;
  head?: string;
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
}
