#!/usr/bin/env node
// A TCP test host for ISO 8583, built on the independent npm codec iso_8583 (package.json).
// Usage: node iso8583_host.cjs [PORT] [--silent-amount A] [--drop-amount A] [--report]
//   (PORT 0 or none: the system picks a free port)
// Prints {"listening":PORT} on stdout once bound to 127.0.0.1. Reads messages framed by a 2-byte
// big-endian length that does not count itself and answers each on the same connection:
//   0100→0110, 0200→0210, 0400→0410, 0800→0810, copying 2, 3, 4, 7, 11, 12, 13, 37, 41, 42, 48,
//   49 (and 90 for 0400, 70 for 0800) when present, with 39 "00" and, for 0110/0210, auth code 38.
//   An amount (field 4) of "000000009999" is declined with 39 "51" (insufficient funds), no 38.
// --silent-amount A: a request with amount A is read and never answered (an unknown outcome);
// --drop-amount A: its connection is closed at once instead. --report: every decoded request is
// printed on stdout as {"received": {field: value}} (fields by number, as the codec gives them).
// It never sends unsolicited messages (no echo of its own). Frames it cannot decode, or with an
// MTI it does not answer, are logged on stderr and dropped; the connection stays open.
'use strict';

const net = require('net');
const Iso8583 = require('iso_8583');

const max_frame_length = 8192;
const answers = { '0100': '0110', '0200': '0210', '0400': '0410', '0800': '0810' };
const copied = ['2', '3', '4', '7', '11', '12', '13', '37', '41', '42', '48', '49'];
const insufficient_funds_amount = '000000009999';
const options = { silent: null, drop: null, report: false };
const args = process.argv.slice(2);
let port_arg = null;
for (let i = 0; i < args.length; ++i) {
  if (args[i] === '--silent-amount') options.silent = args[++i];
  else if (args[i] === '--drop-amount') options.drop = args[++i];
  else if (args[i] === '--report') options.report = true;
  else if (port_arg === null) port_arg = args[i];
  else {
    process.stderr.write(`iso8583_host: unknown argument ${args[i]}\n`);
    process.exit(2);
  }
}

function log(message) {
  process.stderr.write(`iso8583_host: ${message}\n`);
}

let auth_counter = 0;

function answer(request) {
  const mti = request['0'];
  const reply_mti = answers[mti];
  if (!reply_mti) return null;
  const reply = { '0': reply_mti };
  let fields = copied;
  if (mti === '0400') fields = copied.concat(['90']);
  if (mti === '0800') fields = ['7', '11', '41', '70'];
  for (const f of fields) if (request[f] !== undefined) reply[f] = request[f];
  if (mti === '0100' || mti === '0200') {
    if (request['4'] === insufficient_funds_amount) {
      reply['39'] = '51';
    } else {
      auth_counter = (auth_counter + 1) % 1000000;
      reply['38'] = String(auth_counter).padStart(6, '0');
      reply['39'] = '00';
    }
  } else {
    reply['39'] = '00';
  }
  // The codec writes fields in key order; keep them numeric.
  const ordered = {};
  for (const k of Object.keys(reply).sort((a, b) => Number(a) - Number(b))) ordered[k] = reply[k];
  return ordered;
}

function serve(socket) {
  let pending = Buffer.alloc(0);
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      if (length > max_frame_length) {
        log(`${peer}: frame of ${length} bytes is over ${max_frame_length}; closing`);
        socket.destroy();
        return;
      }
      if (pending.length < 2 + length) break;
      const frame = pending.subarray(0, 2 + length);
      pending = pending.subarray(2 + length);
      let request;
      try {
        request = new Iso8583().getIsoJSON(frame, {});
      } catch (e) {
        request = { error: e.message };
      }
      if (!request || request.error) {
        log(`${peer}: cannot decode ${frame.toString('hex')}: ${JSON.stringify(request)}`);
        continue;
      }
      if (options.report) process.stdout.write(JSON.stringify({ received: request }) + '\n');
      const amount = request['4'];
      if (request['0'] !== '0400' && amount !== undefined && amount === options.silent) continue;
      if (request['0'] !== '0400' && amount !== undefined && amount === options.drop) {
        socket.destroy();
        return;
      }
      const reply = answer(request);
      if (!reply) {
        log(`${peer}: no answer for MTI ${request['0']}`);
        continue;
      }
      const out = new Iso8583(reply).getBufferMessage();
      if (!Buffer.isBuffer(out)) {
        log(`${peer}: cannot encode ${JSON.stringify(reply)}: ${JSON.stringify(out)}`);
        continue;
      }
      socket.write(out);
    }
  });
  socket.on('error', (e) => log(`${peer}: ${e.message}`));
}

const port = Number(port_arg || 0);
const server = net.createServer(serve);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
