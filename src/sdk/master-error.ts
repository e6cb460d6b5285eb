// Errors the master SDK throws at its caller (usage errors, not wire errors: those are ProtocolError).

export type MasterErrorCode =
  /** send/kick with no edge connected. */
  | 'VL_ERR_NO_EDGE'
  /** send/kick for an id no edge has sent, while several edges are connected. */
  | 'VL_ERR_NO_ROUTE'
  /** send/kick/drain on an edge connection that is closing or closed. */
  | 'VL_ERR_EDGE_CLOSED';

export class MasterError extends Error {
  readonly code: MasterErrorCode;
  constructor(code: MasterErrorCode, message: string) {
    super(message);
    this.name = 'MasterError';
    this.code = code;
  }
}
