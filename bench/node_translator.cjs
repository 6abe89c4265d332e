// Node.js HTTP/JSON -> memcached text translator for scripts/bench: the small service a team would
// write instead of running dragoman. Same API as `dragoman serve --profile profiles/memcached-text.json`
// (POST /v1/ops/get {"key"} and /v1/ops/set {"key","value","flags"}), a pool of persistent
// memcached sockets used round-robin, requests pipelined and replies matched FIFO.
//
//   node bench/node_translator.cjs HTTP_PORT MEMCACHED_PORT [POOL_SIZE=2]
'use strict';
const http = require('http');
const net = require('net');

const httpPort = Number(process.argv[2]);
const mcPort = Number(process.argv[3]);
const poolSize = Number(process.argv[4] || 2);
const CRLF = Buffer.from('\r\n');

class McConnection {
  constructor() {
    this.waiting = []; // FIFO of { op, done(err, reply) }
    this.buf = Buffer.alloc(0);
    this.ready = new Promise((resolve, reject) => {
      this.sock = net.connect({ host: '127.0.0.1', port: mcPort }, resolve);
      this.sock.once('error', reject);
    });
    this.sock.setNoDelay(true);
    this.sock.on('data', (d) => this.onData(d));
    this.sock.on('error', (e) => this.failAll(e));
    this.sock.on('close', () => this.failAll(new Error('memcached connection closed')));
  }

  send(op, wire, done) {
    this.waiting.push({ op, done });
    this.sock.write(wire);
  }

  failAll(err) {
    const w = this.waiting;
    this.waiting = [];
    for (const x of w) x.done(err);
  }

  onData(d) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const used = this.parseOne();
      if (used === 0) break;
      this.buf = this.buf.subarray(used);
    }
  }

  // Parses the reply at the front of the buffer for the oldest waiting call; returns bytes used.
  parseOne() {
    if (this.waiting.length === 0) return 0;
    const buf = this.buf;
    const eol = buf.indexOf(CRLF);
    if (eol < 0) return 0;
    const line = buf.toString('latin1', 0, eol);
    const call = this.waiting[0];
    let used;
    let reply;
    if (line.startsWith('VALUE ')) {
      const parts = line.split(' ');
      const bytes = Number(parts[3]);
      const dataStart = eol + 2;
      const endLine = dataStart + bytes + 2;
      if (buf.length < endLine + 5) return 0; // data, CRLF, "END\r\n"
      reply = { found: true, value: buf.toString('utf8', dataStart, dataStart + bytes), flags: Number(parts[2]) };
      used = endLine + 5;
    } else if (line === 'END') {
      reply = { found: false };
      used = eol + 2;
    } else if (line === 'STORED') {
      reply = { stored: true };
      used = eol + 2;
    } else {
      reply = { error: line };
      used = eol + 2;
    }
    this.waiting.shift();
    call.done(null, reply);
    return used;
  }
}

const pool = [];
let next = 0;
for (let i = 0; i < poolSize; ++i) pool.push(new McConnection());

function answer(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const keyOk = (k) => typeof k === 'string' && k.length > 0 && k.length <= 250 && !/[\s\x00-\x1f]/.test(k);

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let fields;
    try {
      fields = JSON.parse(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    } catch {
      return answer(res, 400, { code: 'bad_request' });
    }
    if (!fields || typeof fields !== 'object' || !keyOk(fields.key)) return answer(res, 422, { code: 'invalid_field' });
    let op;
    let wire;
    if (req.url === '/v1/ops/get') {
      op = 'get';
      wire = `get ${fields.key}\r\n`;
    } else if (req.url === '/v1/ops/set') {
      if (typeof fields.value !== 'string') return answer(res, 422, { code: 'invalid_field' });
      op = 'set';
      const value = Buffer.from(fields.value, 'utf8');
      wire = Buffer.concat([Buffer.from(`set ${fields.key} ${fields.flags | 0} 0 ${value.length}\r\n`), value, CRLF]);
    } else {
      return answer(res, 404, { code: 'unknown_operation' });
    }
    const conn = pool[next];
    next = (next + 1) % pool.length;
    conn.send(op, wire, (err, reply) => {
      if (err) return answer(res, 503, { code: 'upstream_unavailable' });
      if (reply.error) return answer(res, 422, { code: 'rejected', legacy_code: reply.error });
      answer(res, 200, reply);
    });
  });
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 121000;
server.maxConnections = 100000;

Promise.all(pool.map((c) => c.ready)).then(
  () => server.listen(httpPort, '127.0.0.1', () => console.log(JSON.stringify({ event: 'listening', http: httpPort }))),
  (e) => {
    console.error(`node_translator: cannot reach memcached on ${mcPort}: ${e.message}`);
    process.exit(1);
  },
);
