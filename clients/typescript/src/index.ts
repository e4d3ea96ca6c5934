export { SnapdClient, defaultCommand } from "./client";
export type { SpawnOptions, CloseOptions, IterParams, NotificationListener } from "./client";
export { SnapdError, SnapdConnectionError } from "./errors";
export * from "./types";
export { CancellationTokenSource } from "vscode-jsonrpc/node";
export type { CancellationToken, Disposable, MessageConnection } from "vscode-jsonrpc/node";
