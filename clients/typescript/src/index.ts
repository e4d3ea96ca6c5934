export { SnapdClient, defaultCommand } from "./client";
export type { SpawnOptions, CloseOptions, IterParams, NotificationListener } from "./client";
export { SnapdError, SnapdConnectionError } from "./errors";
export * from "./lsp";
export * from "./types";
export { CancellationTokenSource, Emitter, NotificationType, RequestType } from "vscode-jsonrpc/node";
export type { CancellationToken, Disposable, Event, MessageConnection } from "vscode-jsonrpc/node";
