/**
 * The LSP lifecycle and base-protocol types snapd speaks, and the shapes protocol.md gives in
 * prose only (error `data`, snapshot references). Hand-written: snapd's own methods,
 * notifications, error codes and options are generated into `types.ts` from
 * protocol.schema.json.
 */

import type { InitializationOptions } from "./types";

/** LSP lifecycle and base-protocol method names snapd speaks. */
export const LifecycleMethods = {
  initialize: "initialize",
  initialized: "initialized",
  shutdown: "shutdown",
  exit: "exit",
  progress: "$/progress",
  cancelRequest: "$/cancelRequest",
} as const;

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

/** An LSP progress token. */
export type ProgressToken = number | string;

/**
 * A snapshot name: a 40-hex id, `latest`, `latest~N`, a label, or a unique prefix of at least 4
 * hex digits (protocol.md, "Naming snapshots").
 */
export type SnapshotRef = string;

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
