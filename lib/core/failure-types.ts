// Every failure type a deployment can end with, in one table: the `type` of each ApplicationFailure an
// activity or workflow throws, whether a retry can help, and what it means. Activities, workflows,
// the CLI and the README's table all read it from here.

interface FailureTypeSpec {
  /** The ApplicationFailure type, as it appears in history, results and `--json`. */
  type: string;
  /** A retry may succeed (the remote may come back); all others fail at once. */
  retryable: boolean;
  meaning: string;
}

const spec = <const T extends Record<string, FailureTypeSpec>>(table: T) => table;

export const failureTable = spec({
  // The request itself.
  invalidInput: { type: 'InvalidInput', retryable: false, meaning: 'the request or a payload is malformed' },
  unknownEnvironment: { type: 'UnknownEnvironment', retryable: false, meaning: 'the orchestrator has no definition of the environment' },
  invalidEnvironment: { type: 'InvalidEnvironment', retryable: false, meaning: "the orchestrator's definition of the environment is invalid" },
  // What a node's own config does not allow.
  notAllowed: { type: 'NotAllowedByNode', retryable: false, meaning: "the node's config does not allow what was asked (a source, a command, a file)" },
  releaseConflict: { type: 'ReleaseConflict', retryable: false, meaning: 'the node holds this release id with other content' },
  // Verification of the release.
  tagNotFound: { type: 'TagNotFound', retryable: false, meaning: 'the tag is not on the canonical remote' },
  tagNotPushed: { type: 'TagNotPushed', retryable: false, meaning: 'the commit was pushed but the tag was not' },
  tagNotAllowed: { type: 'TagNotAllowed', retryable: false, meaning: "the tag does not match the environment's tagPattern" },
  tagSignatureInvalid: { type: 'TagSignatureInvalid', retryable: false, meaning: 'the tag has no signature from a trusted key' },
  tagRenamed: { type: 'TagRenamed', retryable: false, meaning: 'the ref points at the tag object of another name' },
  commitMismatch: { type: 'CommitMismatch', retryable: false, meaning: 'the tag names another commit than the one requested' },
  gitUnavailable: { type: 'GitUnavailable', retryable: true, meaning: 'the canonical remote could not be read' },
  checksFailed: { type: 'ChecksFailed', retryable: false, meaning: 'a required CI check failed' },
  checksTimedOut: { type: 'ChecksTimedOut', retryable: false, meaning: 'required CI checks were still pending at the deadline' },
  checksUnavailable: { type: 'ChecksUnavailable', retryable: false, meaning: 'the CI provider refused the request (token, repository)' },
  digestMismatch: { type: 'DigestMismatch', retryable: false, meaning: "the artifact's sha256 is not the one given" },
  missingFact: { type: 'MissingFact', retryable: false, meaning: "a configuration template uses a fact the fleet does not give (a service the definition does not name, a variable the node does not hold)" },
  templateInvalid: { type: 'TemplateInvalid', retryable: false, meaning: 'a configuration template is missing from the release or cannot be rendered' },
  promotionRefused: { type: 'PromotionRefused', retryable: false, meaning: 'the release has not been live upstream (promotion.from) for promotion.bake, or its artifact differs from the one that ran there' },
  digestNotSigned: { type: 'DigestNotSigned', retryable: false, meaning: "the artifact's sha256 is not the one the signed tag names" },
  artifactUnavailable: { type: 'ArtifactUnavailable', retryable: true, meaning: 'the artifact could not be fetched' },
  hostUnreachable: { type: 'HostUnreachable', retryable: true, meaning: 'an artifact host or git remote refused connections or did not resolve (retried for its unreachableTimeout, then final)' },
  invalidArtifactUrl: { type: 'InvalidArtifactUrl', retryable: false, meaning: 'the artifact URL is malformed or names nothing' },
  // Preflight and staging.
  unknownServer: { type: 'UnknownServer', retryable: false, meaning: 'a node has no server in the load-balancer backend' },
  agentUnavailable: { type: 'AgentUnavailable', retryable: false, meaning: "a node's agent did not answer" },
  unsafeArchive: { type: 'UnsafeArchive', retryable: false, meaning: "the archive has an entry the extractor refuses (out of its folder, a link chain, a device, setuid, over the node's limits)" },
  diskFull: { type: 'DiskFull', retryable: false, meaning: "the node's disk has less room than the release needs" },
  notStaged: { type: 'NotStaged', retryable: false, meaning: 'the release is not staged on the node' },
  notKept: { type: 'ReleaseNotKept', retryable: false, meaning: 'a rollback target is no longer kept on a node' },
  // A node's cycle.
  drainTimeout: { type: 'DrainTimeout', retryable: false, meaning: 'sessions were still open at the drain deadline' },
  unhealthy: { type: 'Unhealthy', retryable: false, meaning: 'the node did not pass its health check by the deadline' },
  appStart: { type: 'AppStartFailed', retryable: false, meaning: 'the app did not start on the node' },
  nodeFailed: { type: 'NodeFailed', retryable: false, meaning: 'a node of a batch failed' },
  // Blue-green.
  poolMapInvalid: { type: 'PoolMapInvalid', retryable: false, meaning: "HAProxy's pool map is missing, or its live entry names neither pool's backend" },
  smokeTestFailed: { type: 'SmokeTestFailed', retryable: false, meaning: 'a smoke test of the idle pool failed: nothing was switched' },
  watchBreached: { type: 'WatchBreached', retryable: false, meaning: "the new pool's errors after the switch passed the watch's limits: traffic switched back" },
  notWarm: { type: 'PoolNotWarm', retryable: false, meaning: 'a switch back was asked for after the old pool stopped (keepWarm passed): deploy the old release instead' },
  // Migrations.
  commandFailed: { type: 'CommandFailed', retryable: false, meaning: 'a migration or backup command exited non-zero' },
  backupNotConfigured: { type: 'BackupNotConfigured', retryable: false, meaning: "the runner has no postgres DATABASE_URL and no backup command" },
  backupCopyFailed: { type: 'BackupCopyFailed', retryable: false, meaning: "the backup could not be copied to the node's migrations.backups.copyTo, or the copy's digest differs" },
  restoreNotVerified: { type: 'RestoreNotVerified', retryable: false, meaning: "the restored schema differs from the backup's" },
  compatibilityCheckFailed: { type: 'CompatibilityCheckFailed', retryable: false, meaning: 'the old release is unhealthy on the expanded schema' },
  // Approval.
  approvalTimedOut: { type: 'ApprovalTimedOut', retryable: false, meaning: 'not enough approvals before the timeout' },
  notPermitted: { type: 'NotPermitted', retryable: false, meaning: "the definition's control list does not name who asked (a lock, unlock, freeze or unfreeze)" },
  signatureRefused: { type: 'SignatureRefused', retryable: false, meaning: "an operator's signed statement does not verify, or is not for this run, plan or action" },
  allowedSignersChanged: { type: 'AllowedSignersChanged', retryable: false, meaning: "the allowed-signers file's sha256 is not the one the definition pins" },
  // Notifications (recorded, never fatal to a deployment).
  notificationNotConfigured: { type: 'NotificationNotConfigured', retryable: false, meaning: "a channel's URL or secret cannot be read" },
  notificationRejected: { type: 'NotificationRejected', retryable: false, meaning: 'the receiver refused the notification' },
  // How a deployment ended (the workflow's own failure).
  deploymentFailed: { type: 'DeploymentFailed', retryable: false, meaning: 'the deployment failed and could not roll back fully' },
  deploymentRolledBack: { type: 'DeploymentRolledBack', retryable: false, meaning: 'the deployment failed and every changed node went back' },
  deploymentAborted: { type: 'DeploymentAborted', retryable: false, meaning: 'an operator aborted, or approval timed out' },
});

export type FailureKey = keyof typeof failureTable;
export type FailureType = (typeof failureTable)[FailureKey]['type'];

/** `failureTypes.unhealthy === 'Unhealthy'`: the type strings by key. */
export const failureTypes = Object.fromEntries(Object.entries(failureTable).map(([key, { type }]) => [key, type])) as {
  readonly [K in FailureKey]: (typeof failureTable)[K]['type'];
};

export type VerificationFailureType = (typeof failureTypes)['tagNotFound' | 'tagNotPushed' | 'tagNotAllowed' | 'tagSignatureInvalid' | 'tagRenamed' | 'commitMismatch' | 'digestNotSigned'];
export type ArtifactFailureType = (typeof failureTypes)['digestMismatch' | 'artifactUnavailable' | 'invalidArtifactUrl'];
