// Why an outbound call of the engine ended without a usable answer, beyond the transport's own errors.

/** The answer passed the byte cap; it was cut off there. */
export class AnswerTooLarge extends Error {
  override name = 'AnswerTooLarge';
  constructor(readonly maxBytes: number) {
    super(`the answer is over ${maxBytes} bytes (PUSHWORKER_MAX_ANSWER_BYTES) and was cut off`);
  }
}

/** The whole call, answer included, took longer than its deadline. */
export class DeadlinePassed extends Error {
  override name = 'DeadlinePassed';
  constructor(readonly deadlineMs: number) {
    super(`no whole answer within ${deadlineMs} ms`);
  }
}

/** The target is, or resolves to, an address the engine does not reach unless private targets are allowed. */
export class PrivateTarget extends Error {
  override name = 'PrivateTarget';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    const what =
      host === address ? `${host} is a private address` : `${host} resolves to ${address}, a private address`;
    super(
      `${what}; the engine reaches only public addresses unless PUSHWORKER_ALLOW_PRIVATE_TARGETS=true (allowPrivateTargets)`,
    );
  }
}
