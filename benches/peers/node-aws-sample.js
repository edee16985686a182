#!/usr/bin/env node
// Peer for scripts/bench-throughput: the approach of the AWS documentation's
// Node.js sample that sends CloudTrail events to SNS ("Using AWS Lambda with
// AWS CloudTrail"): the whole log object in memory, gunzipped at once,
// turned into one string, JSON.parse'd, then Records filtered. Here the object
// comes from a local file instead of S3 and nothing is published; the filter
// is trailwatch's first rule: a Lambda Invoke not made by S3.
//
//   node benches/peers/node-aws-sample.js LOG.json.gz
//
// Prints `matches=<n> records=<n>`. When the approach cannot handle the log
// (a string over 512 MB, out of memory, ...) prints `failed: <reason>` and
// exits with status 3. A V8 heap exhaustion aborts the process before any
// handler runs; scripts/bench-throughput reports that exit as a failure too.
'use strict';

const fs = require('fs');
const zlib = require('zlib');

const EVENT_SOURCE = 'lambda.amazonaws.com';
const EVENT_NAME = 'Invoke';
const ALLOWED_INVOKER = 's3.amazonaws.com';

function main(path) {
  const body = fs.readFileSync(path); // s3.getObject(...).Body in the sample
  const jsonBuffer = zlib.gunzipSync(body);
  const records = JSON.parse(jsonBuffer.toString()).Records;
  const matching = records.filter(
    (record) =>
      record.eventSource === EVENT_SOURCE &&
      record.eventName === EVENT_NAME &&
      (record.userIdentity || {}).invokedBy !== ALLOWED_INVOKER
  );
  return { matches: matching.length, records: records.length };
}

if (process.argv.length !== 3) {
  console.error('usage: node-aws-sample.js LOG.json.gz');
  process.exit(2);
}
let result;
try {
  result = main(process.argv[2]);
} catch (err) {
  const reason = String((err && err.message) || err).split('\n')[0];
  console.log(`failed: ${reason}`);
  process.exit(3);
}
console.log(`matches=${result.matches} records=${result.records}`);
