// Node.js HTTP/JSON -> ISO 8583 translator for scripts/bench: the service a team would write instead
// of running dragoman with profiles/iso8583-ascii.json, on the same codec as the host (the npm
// package iso_8583, from tests/peers). Same API and fields as dragoman's `authorize` operation:
//
//   POST /v1/ops/authorize {"pan","amount","terminal_id", optional "processing_code" (000000),
//     "currency" (840), "expiry", "merchant_type", "pos_entry_mode", "pos_condition", "acquirer_id",
//     "track2", "rrn", "merchant_id", "merchant_location", "f48", "pin_block", "additional_amounts"}
//   -> 0100 with 7 (MMDDhhmmss UTC), 11 (STAN counter), 12/13 (local time and date) generated;
//   the 0110's fields come back by name (pan, processing_code, amount, transmission_time, stan,
//   local_time, local_date, rrn, auth_code, response_code, terminal_id, merchant_id, f44, f48,
//   currency, additional_amounts): 200 when response_code is 00, 422 {"code":"rejected"} else.
//
// A pool of persistent host connections used round-robin, each signed on (0800/70=001) before the
// first call, requests pipelined on them and replies matched by STAN + terminal id (field 11, 41);
// a 5 s timeout per call (504), the host's connection lost -> 503 for its calls in flight.
//
//   NODE_PATH=tests/peers/node_modules node bench/node_iso8583_translator.cjs HTTP_PORT HOST_PORT [POOL=2]
// (HTTP_PORT 0: any; prints {"event":"listening","http":PORT} once it serves)
'use strict';
const http = require('http');
const net = require('net');
const Iso8583 = require('iso_8583');

const httpPort = Number(process.argv[2]);
const hostPort = Number(process.argv[3]);
const poolSize = Number(process.argv[4] || 2);
const callTimeoutMs = 5000;
const maxFrame = 8192;
const maxInFlight = 4096;

// JSON name -> field number, for the request; and field number -> JSON name for the reply.
const requestFields = {
  pan: '2', processing_code: '3', amount: '4', expiry: '14', merchant_type: '18', pos_entry_mode: '22',
  pos_condition: '25', acquirer_id: '32', track2: '35', rrn: '37', terminal_id: '41', merchant_id: '42',
  merchant_location: '43', f48: '48', currency: '49', pin_block: '52', additional_amounts: '54',
};
const replyFields = {
  2: 'pan', 3: 'processing_code', 4: 'amount', 7: 'transmission_time', 11: 'stan', 12: 'local_time',
  13: 'local_date', 37: 'rrn', 38: 'auth_code', 39: 'response_code', 41: 'terminal_id', 42: 'merchant_id',
  44: 'f44', 48: 'f48', 49: 'currency', 54: 'additional_amounts',
};
const defaults = { processing_code: '000000', currency: '840' };

let stan = Math.floor(Math.random() * 999999);
function nextStan() {
  stan = (stan % 999999) + 1;
  return String(stan).padStart(6, '0');
}
const two = (n) => String(n).padStart(2, '0');

class HostConnection {
  constructor() {
    this.pending = new Map(); // "stan/terminal" -> { done, timer }
    this.buf = Buffer.alloc(0);
    this.sock = net.connect({ host: '127.0.0.1', port: hostPort });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => this.failAll());
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', () => {
        const now = new Date();
        const signOn = { 0: '0800', 7: transmissionTime(now), 11: nextStan(), 41: 'DRAGOMAN', 70: '001' };
        this.send(signOn, (err, reply) => (err || reply['39'] !== '00' ? reject(err || new Error('sign-on refused')) : resolve()));
      });
      this.sock.once('error', reject);
    });
  }

  send(fields, done) {
    const key = `${fields['11']}/${fields['41'] || ''}`;
    if (this.pending.size >= maxInFlight || this.pending.has(key)) return done(new Error('busy'));
    const wire = new Iso8583(fields).getBufferMessage();
    if (!Buffer.isBuffer(wire)) return done(Object.assign(new Error('invalid'), { detail: wire }));
    const timer = setTimeout(() => {
      this.pending.delete(key);
      done(Object.assign(new Error('timeout'), { timeout: true }));
    }, callTimeoutMs);
    this.pending.set(key, { done, timer });
    this.sock.write(wire);
  }

  failAll() {
    const p = this.pending;
    this.pending = new Map();
    for (const { done, timer } of p.values()) {
      clearTimeout(timer);
      done(new Error('host connection lost'));
    }
  }

  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 2) {
      const length = this.buf.readUInt16BE(0);
      if (length > maxFrame) return this.sock.destroy();
      if (this.buf.length < 2 + length) break;
      const frame = this.buf.subarray(0, 2 + length);
      this.buf = this.buf.subarray(2 + length);
      let reply;
      try {
        reply = new Iso8583().getIsoJSON(frame, {});
      } catch {
        continue;
      }
      if (!reply || reply.error) continue;
      const key = `${reply['11']}/${reply['41'] || ''}`;
      const call = this.pending.get(key);
      if (!call) continue; // unmatched: late after a timeout, or unsolicited
      this.pending.delete(key);
      clearTimeout(call.timer);
      call.done(null, reply);
    }
  }
}

function transmissionTime(d) {
  return two(d.getUTCMonth() + 1) + two(d.getUTCDate()) + two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds());
}

const pool = [];
let next = 0;
for (let i = 0; i < poolSize; ++i) pool.push(new HostConnection());

function answer(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function authorize(res, input) {
  const msg = { 0: '0100' };
  for (const [name, number] of Object.entries(requestFields)) {
    const v = input[name] !== undefined ? input[name] : defaults[name];
    if (v === undefined) continue;
    if (typeof v !== 'string') return answer(res, 422, { code: 'invalid_field', field: name });
    msg[number] = v;
  }
  for (const name of ['pan', 'amount', 'terminal_id'])
    if (input[name] === undefined) return answer(res, 422, { code: 'missing_field', field: name });
  const now = new Date();
  msg['7'] = transmissionTime(now);
  msg['11'] = nextStan();
  msg['12'] = two(now.getHours()) + two(now.getMinutes()) + two(now.getSeconds());
  msg['13'] = two(now.getMonth() + 1) + two(now.getDate());
  // The codec writes fields in key order: integer-like keys already iterate in numeric order.
  const conn = pool[next];
  next = (next + 1) % pool.length;
  conn.send(msg, (err, reply) => {
    if (err) {
      if (err.detail) return answer(res, 422, { code: 'invalid_field', detail: err.detail });
      return answer(res, err.timeout ? 504 : 503, { code: err.timeout ? 'timeout' : 'upstream_unavailable' });
    }
    const out = {};
    for (const [number, name] of Object.entries(replyFields)) if (reply[number] !== undefined) out[name] = reply[number];
    if (reply['0'] !== '0110') return answer(res, 502, { code: 'bad_reply', mti: reply['0'] });
    if (out.response_code !== '00') return answer(res, 422, { code: 'rejected', legacy_code: out.response_code, ...out });
    answer(res, 200, out);
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 1048576) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/ops/authorize') return answer(res, 404, { code: 'unknown_operation' });
    let input;
    try {
      input = JSON.parse(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    } catch {
      return answer(res, 400, { code: 'bad_request' });
    }
    if (!input || typeof input !== 'object' || Array.isArray(input)) return answer(res, 400, { code: 'bad_request' });
    authorize(res, input);
  });
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.maxConnections = 100000;

Promise.all(pool.map((c) => c.ready)).then(
  () => server.listen(httpPort, '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', http: server.address().port }))),
  (e) => {
    console.error(`node_iso8583_translator: cannot sign on to the host on ${hostPort}: ${e.message}`);
    process.exit(1);
  },
);
