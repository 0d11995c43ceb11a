/**
 * WritError — the one base class of Writ's errors, with a stable `code` (as `jose` has
 * `JOSEError`): code that handles an error tests `err instanceof WritError` and switches on
 * `err.code`, never on a message, which is for people and may change.
 *
 * Standalone (no imports) so `writ/verify` can use it without pulling in anything.
 *
 * Codes, by class (a class with a reason code keeps exactly that code; docs/reason-codes.md
 * lists the decision and verification ones):
 *
 *   WritVerificationError      its WritReason (writ/reasons.ts): writ_malformed, stale_policy, ...
 *   DenyError                  its DenyReason (reasons.ts): the deny the decision path ends in
 *   BundleError                its BundleReason (reasons.ts): why a bundle was refused
 *   TypedJwsError              jws_malformed, jws_algorithm_rejected, jws_typ_invalid, jws_unknown_key,
 *                              jws_signature_invalid, jws_payload_invalid (writ/typed-jws.ts)
 *   IJsonError                 request_invalid: the request is JSON but not I-JSON
 *   SingleUseUnavailableError  single_use_unavailable: the single-use store did not answer
 *   BeaconError                beacon_invalid: a beacon that does not verify or is not for this domain
 *   RevocationListStaleError   stale_policy: the signer cannot vouch for its revocations now
 *   RollbackError              bundle_rollback: the version is not above the anti-rollback floor
 *   UnknownWritError           unknown_writ: an outcome for a writ this node never issued
 *   DuplicateOutcomeError      duplicate_outcome: the writ's outcome is recorded already
 *   ApprovalStateError         approval_state_invalid: no such approval, or not pending
 *   CallerError                caller_config_invalid: a caller, issuer or pattern that cannot be configured
 *   PolicySourceError          policy_source_invalid: Cedar source or schema with diagnostics
 *   HomeError                  home_invalid: a home directory or config that cannot be used
 *   LogError                   log_request_invalid: a size, index or range the log cannot answer
 *   LogForkError               log_fork: the log is not the one this node knew (docs/transparency-log.md)
 *   DuplicateEntryError        duplicate_entry: a once-per-writ ledger entry of that type exists
 *   CheckpointError            checkpoint_invalid: a checkpoint note that does not parse or verify
 *   RunningRegistryError       running_invalid: a running execution too large or malformed to register
 *   NoteError                  its NoteErrorCode: malformed, bad-key, invalid-signer, ambiguous-key,
 *                              invalid-signature, unverified (tlog/note.ts)
 *   MerkleProofError           its MerkleProofFailure: invalid-input, hash-size, path-length, root-mismatch
 *   ProofFileError             proof_file_invalid: a proof file that does not parse or verify
 *   ExecSetupError             request_invalid: a malformed --env / --cwd for writ exec
 *   CommandNotFoundError       command_not_found: writ exec's command is not on the PATH it gets
 *   CliError                   cli_usage (exit 2) or cli_failed: the writ command refused or failed
 *   (a WritError itself)       crypto_unavailable: no Ed25519 installed for the tlog modules, or a
 *                              SHA-256 that is not one (tlog/crypto.ts)
 */

/** An error Writ raises on purpose. `code` is stable: never renamed, only added. */
export class WritError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WritError';
    this.code = code;
  }
}
