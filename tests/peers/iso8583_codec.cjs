#!/usr/bin/env node
// A small CLI on the independent npm codec iso_8583 (pinned in package.json), for cross-checks.
//   encode: stdin {"0":"0100","2":"4761…",…} (field numbers as keys) → one line of frame hex
//           (2-byte big-endian length, not counting itself, then the message)
//   decode: stdin frame hex (same framing) → one line of JSON {"0":"0110","39":"00",…}
// Errors go to stderr as one line, with exit status 1.
'use strict';

const Iso8583 = require('iso_8583');

function fail(message) {
  process.stderr.write(`iso8583_codec: ${message}\n`);
  process.exit(1);
}

function readStdin() {
  return require('fs').readFileSync(0, 'utf8');
}

function encode(text) {
  let fields;
  try {
    fields = JSON.parse(text);
  } catch (e) {
    fail(`stdin is not JSON: ${e.message}`);
  }
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields))
    fail('stdin must be a JSON object of fields keyed by number');
  const msg = {};
  for (const [k, v] of Object.entries(fields)) msg[k] = String(v);
  const out = new Iso8583(msg).getBufferMessage();
  if (!Buffer.isBuffer(out)) fail(JSON.stringify(out));
  return out.toString('hex');
}

function decode(text) {
  const hex = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) fail('stdin is not hex');
  const buf = Buffer.from(hex, 'hex');
  if (buf.length < 2) fail('frame shorter than its length prefix');
  const declared = buf.readUInt16BE(0);
  if (declared !== buf.length - 2)
    fail(`length prefix says ${declared} bytes, frame has ${buf.length - 2}`);
  const json = new Iso8583().getIsoJSON(buf, {});
  if (!json || json.error) fail(JSON.stringify(json));
  return JSON.stringify(json);
}

const command = process.argv[2];
if (command === 'encode') process.stdout.write(encode(readStdin()) + '\n');
else if (command === 'decode') process.stdout.write(decode(readStdin()) + '\n');
else fail('usage: iso8583_codec.cjs encode|decode < input');
