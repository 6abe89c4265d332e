// Node.js HTTP/JSON -> HL7 v2 over MLLP translator for scripts/bench: the service a team would write
// instead of running dragoman with profiles/hl7v2-mllp.json, on the npm HL7 library
// node-hl7-client (2.3.1, from tests/peers: its Message builds the ADT^A01 and parses the ACK).
// Same API and fields as dragoman's `admit` operation:
//
//   POST /v1/ops/admit {"patient":{"id","family", optional "authority","id_type" (MR),"given",
//     "middle","birth_date","sex","address":{"street","city","postal_code","country"},"phone"},
//     "visit":{"class" (I),"point_of_care","room","bed","attending":{"id","family","given"},
//     "number","admitted_at"}, optional "sending_application" (DRAGOMAN), "sending_facility"
//     (SIDECAR), "receiving_application" (HIS), "receiving_facility" (HOSPITAL), "processing_id" (P)}
//   -> ADT^A01^ADT_A01, v2.5, MSH-7 and EVN-2 now, MSH-10 a 10-digit counter, MSH-18 UNICODE UTF-8;
//   the ACK's MSA-1 (ack_code), MSA-2 (control_id), MSA-3 (ack_text) and ERR-3/ERR-4 (error.code,
//   error.text, error.severity) come back: 200 on AA/CA, 422 {"code":"rejected"} else.
//
// MLLP on a pool of persistent connections used round-robin, messages pipelined, ACKs matched by
// MSA-2; a 5 s timeout per call (504), a lost connection -> 503 for its calls in flight.
//
//   NODE_PATH=tests/peers/node_modules node bench/node_hl7_translator.cjs HTTP_PORT HOST_PORT [POOL=2]
// (HTTP_PORT 0: any; prints {"event":"listening","http":PORT} once it serves)
'use strict';
const http = require('http');
const net = require('net');
const { Message } = require('node-hl7-client');
const { HL7_2_5 } = require('node-hl7-client/hl7');

const httpPort = Number(process.argv[2]);
const hostPort = Number(process.argv[3]);
const poolSize = Number(process.argv[4] || 2);
const callTimeoutMs = 5000;
const maxFrame = 1048576;
const maxInFlight = 4096;
const VT = 0x0b;
const FS = 0x1c;

let counter = Math.floor(Math.random() * 1e9);
const nextControlId = () => String((counter = (counter + 1) % 1e10)).padStart(10, '0');
const now14 = () => new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);

class MllpConnection {
  constructor() {
    this.pending = new Map(); // control id -> { done, timer }
    this.buf = Buffer.alloc(0);
    this.sock = net.connect({ host: '127.0.0.1', port: hostPort });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', () => {});
    this.sock.on('close', () => this.failAll());
    this.ready = new Promise((resolve, reject) => {
      this.sock.once('connect', resolve);
      this.sock.once('error', reject);
    });
  }

  send(controlId, text, done) {
    if (this.pending.size >= maxInFlight) return done(new Error('busy'));
    const timer = setTimeout(() => {
      this.pending.delete(controlId);
      done(Object.assign(new Error('timeout'), { timeout: true }));
    }, callTimeoutMs);
    this.pending.set(controlId, { done, timer });
    this.sock.write('\x0b' + text + '\x1c\r');
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
    for (;;) {
      const start = this.buf.indexOf(VT);
      if (start < 0) {
        this.buf = Buffer.alloc(0);
        return;
      }
      const end = this.buf.indexOf(FS, start);
      if (end < 0) {
        if (this.buf.length - start > maxFrame) this.sock.destroy();
        else this.buf = this.buf.subarray(start);
        return;
      }
      const text = this.buf.toString('utf8', start + 1, end);
      this.buf = this.buf.subarray(end + 2);
      let ack;
      try {
        ack = new Message({ text });
      } catch {
        continue;
      }
      const id = ack.get('MSA.2').toString();
      const call = this.pending.get(id);
      if (!call) continue; // unmatched: late after a timeout, or an ACK repeated by the receiver
      this.pending.delete(id);
      clearTimeout(call.timer);
      call.done(null, ack);
    }
  }
}

const pool = [];
let next = 0;
for (let i = 0; i < poolSize; ++i) pool.push(new MllpConnection());

function answer(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const str = (v) => (v === undefined || v === null ? undefined : String(v));

function set(segment, path, value) {
  if (value !== undefined && value !== '') segment.set(path, value);
}

function admitMessage(input, controlId) {
  const p = input.patient || {};
  const v = input.visit || {};
  const addr = p.address || {};
  const att = v.attending || {};
  const ts = now14();
  const m = new Message({
    specification: new HL7_2_5(),
    date: '14',
    messageHeader: { msh_9_1: 'ADT', msh_9_2: 'A01', msh_9_3: 'ADT_A01', msh_10: controlId, msh_11_1: str(input.processing_id) || 'P' },
  });
  m.set('MSH.3', str(input.sending_application) || 'DRAGOMAN');
  m.set('MSH.4', str(input.sending_facility) || 'SIDECAR');
  m.set('MSH.5', str(input.receiving_application) || 'HIS');
  m.set('MSH.6', str(input.receiving_facility) || 'HOSPITAL');
  m.set('MSH.7', ts);
  m.set('MSH.18', 'UNICODE UTF-8');
  const evn = m.addSegment('EVN');
  evn.set('1', 'A01');
  evn.set('2', ts);
  const pid = m.addSegment('PID');
  pid.set('1', '1');
  set(pid, '3.1', str(p.id));
  set(pid, '3.4', str(p.authority));
  set(pid, '3.5', str(p.id_type) || 'MR');
  set(pid, '5.1', str(p.family));
  set(pid, '5.2', str(p.given));
  set(pid, '5.3', str(p.middle));
  set(pid, '7', str(p.birth_date));
  set(pid, '8', str(p.sex));
  set(pid, '11.1', str(addr.street));
  set(pid, '11.3', str(addr.city));
  set(pid, '11.5', str(addr.postal_code));
  set(pid, '11.6', str(addr.country));
  set(pid, '13.1', str(p.phone));
  const pv1 = m.addSegment('PV1');
  pv1.set('1', '1');
  set(pv1, '2', str(v.class) || 'I');
  set(pv1, '3.1', str(v.point_of_care));
  set(pv1, '3.2', str(v.room));
  set(pv1, '3.3', str(v.bed));
  set(pv1, '7.1', str(att.id));
  set(pv1, '7.2', str(att.family));
  set(pv1, '7.3', str(att.given));
  set(pv1, '19.1', str(v.number));
  set(pv1, '44', str(v.admitted_at));
  return m.toString();
}

function admit(res, input) {
  const p = input.patient;
  if (!p || typeof p !== 'object' || p.id === undefined || p.family === undefined)
    return answer(res, 422, { code: 'missing_field', field: 'patient.id, patient.family' });
  const controlId = nextControlId();
  let text;
  try {
    text = admitMessage(input, controlId);
  } catch (e) {
    return answer(res, 422, { code: 'invalid_field', detail: String(e.message || e) });
  }
  const conn = pool[next];
  next = (next + 1) % pool.length;
  conn.send(controlId, text, (err, ack) => {
    if (err) return answer(res, err.timeout ? 504 : 503, { code: err.timeout ? 'timeout' : 'upstream_unavailable' });
    const out = { ack_code: ack.get('MSA.1').toString(), control_id: ack.get('MSA.2').toString() };
    const text3 = ack.get('MSA.3').toString();
    if (text3) out.ack_text = text3;
    if (out.ack_code === 'AA' || out.ack_code === 'CA') return answer(res, 200, out);
    const error = {};
    for (const [path, name] of [['ERR.3.1', 'code'], ['ERR.3.2', 'text'], ['ERR.4', 'severity']]) {
      let value = '';
      try {
        value = ack.get(path).toString();
      } catch {}
      if (value) error[name] = value;
    }
    if (Object.keys(error).length) out.error = error;
    answer(res, 422, { code: 'rejected', legacy_code: out.ack_code, ...out });
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
    if (req.method !== 'POST' || req.url !== '/v1/ops/admit') return answer(res, 404, { code: 'unknown_operation' });
    let input;
    try {
      input = JSON.parse(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    } catch {
      return answer(res, 400, { code: 'bad_request' });
    }
    if (!input || typeof input !== 'object' || Array.isArray(input)) return answer(res, 400, { code: 'bad_request' });
    admit(res, input);
  });
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.maxConnections = 100000;

Promise.all(pool.map((c) => c.ready)).then(
  () => server.listen(httpPort, '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', http: server.address().port }))),
  (e) => {
    console.error(`node_hl7_translator: cannot reach the MLLP host on ${hostPort}: ${e.message}`);
    process.exit(1);
  },
);
