// A long-running JavaScript v3 SDK consumer of `credpush serve`, driven by the serve tests over stdin.
//
// Each line "call" makes one real, signed STS GetCallerIdentity through one STSClient whose credentials come from
// fromNodeProviderChain (@aws-sdk/credential-providers), which reads AWS_CONTAINER_CREDENTIALS_FULL_URI and
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as set by the test, and prints one JSON line:
// {"ok": true, "arn": ..., "key": ...} or {"ok": false, "error": ...}. The client and its memoized provider live
// as long as the process, so the test sees whether the SDK's refresh picks up a rotation. End of input ends it.
"use strict";

const readline = require("node:readline");
const { STSClient, GetCallerIdentityCommand } = require("@aws-sdk/client-sts");
const { fromNodeProviderChain } = require("@aws-sdk/credential-providers");

const credentials = fromNodeProviderChain();
const sts = new STSClient({ credentials });

async function call() {
  try {
    const out = await sts.send(new GetCallerIdentityCommand({}));
    const creds = await credentials();
    return { ok: true, arn: out.Arn, key: creds.accessKeyId };
  } catch (e) {
    return { ok: false, error: `${e.name}: ${e.message}${e.Message ? ` (${e.Message})` : ""}` };
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "call") {
      process.stdout.write(JSON.stringify(await call()) + "\n");
    }
  }
}

main();
