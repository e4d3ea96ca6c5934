import type { ErrorData } from "./lsp";
import { ErrorCodes, type ErrorCodeName } from "./types";

const CODE_NAMES = new Map<number, ErrorCodeName>(
  (Object.entries(ErrorCodes) as [ErrorCodeName, number][]).map(([name, code]) => [code, name]),
);

/** A JSON-RPC error object answered by the daemon (or a connection failure, see `code`). */
export class SnapdError extends Error {
  override readonly name = "SnapdError";

  constructor(
    /** The JSON-RPC error code (see {@link ErrorCodes}). */
    readonly code: number,
    message: string,
    /** The error's `data` member, if any. */
    readonly data?: ErrorData,
    /** The method of the request that failed, when known. */
    readonly method?: string,
  ) {
    super(message);
  }

  /** `data.field`: the offending param by its wire name, when the error is about a param. */
  get field(): string | undefined {
    const field = this.data?.field;
    return typeof field === "string" ? field : undefined;
  }

  /** The protocol.md name of {@link code} (e.g. `UnknownSnapshot`), if it is one of snapd's codes. */
  get codeName(): ErrorCodeName | undefined {
    return CODE_NAMES.get(this.code);
  }
}

/** The daemon process or its connection went away. */
export class SnapdConnectionError extends Error {
  override readonly name = "SnapdConnectionError";
}
