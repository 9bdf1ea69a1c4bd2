// Failure messages and stack traces go through the payload codec (so they are encrypted) instead of
// sitting in history in clear. A CommonJS file because Temporal loads it by path: the workflow
// bundler inlines it, and each worker's activities `require` it.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
