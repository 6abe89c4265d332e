// Closed-loop direct client of the ISO 8583 and HL7 hosts for scripts/bench (the iso8583-direct and
// hl7-direct rows: the host's own ceiling, no translator in the way), and the hops' start-up probe.
// Each connection keeps one request outstanding: a message encoded once per connection (ISO 8583:
// a 0100 by the npm codec iso_8583 with the connection's own STAN; HL7: an ADT^A01 with its own
// MSH-10), sent again as soon as its reply is complete (2-byte length / MLLP framing). Replies are
// counted, not decoded: the client must cost the host as little as possible.
//
//   NODE_PATH=tests/peers/node_modules node bench/direct_client.cjs iso8583|mllp PORT CONNECTIONS SECONDS
//
// Prints one JSON line like dragoman_loadgen's: requests, errors, rps, p50_us, p90_us, p99_us, ...
// (errors: ISO 8583 replies whose field 39 is not 00, HL7 ACKs whose MSA-1 is not AA).
'use strict';
const net = require('net');

const [proto, portArg, connArg, secsArg] = process.argv.slice(2);
const port = Number(portArg);
const connections = Number(connArg || 1);
const seconds = Number(secsArg || 3);
if (!['iso8583', 'mllp'].includes(proto) || !port) {
  console.error('usage: direct_client.cjs iso8583|mllp PORT CONNECTIONS SECONDS');
  process.exit(2);
}

function isoRequest(i) {
  const Iso8583 = require('iso_8583');
  const now = new Date();
  const two = (n) => String(n).padStart(2, '0');
  const msg = {
    0: '0100', 2: '4761739001010010', 3: '000000', 4: '000000001000',
    7: two(now.getUTCMonth() + 1) + two(now.getUTCDate()) + two(now.getUTCHours()) + two(now.getUTCMinutes()) + two(now.getUTCSeconds()),
    11: String(i + 1).padStart(6, '0'), 12: '120000', 13: '0101', 37: '000000000001', 41: 'TERM0001',
    42: 'MERCHANT0000001', 49: '840',
  };
  return new Iso8583(msg).getBufferMessage();
}

function hl7Request(i) {
  const id = String(i + 1).padStart(10, '0');
  const ts = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return Buffer.from(
    `\x0bMSH|^~\\&|DRAGOMAN|SIDECAR|HIS|HOSPITAL|${ts}||ADT^A01^ADT_A01|${id}|P|2.5||||||UNICODE UTF-8\r` +
      `EVN|A01|${ts}\rPID|1||MRN12345^^^^MR||DOE^JANE||19800101|F|||1 Main St^^Springfield^^12345^USA\r` +
      'PV1|1|I|WARD1^101^A||||D100^HOUSE^GREG||||||||||||V0001\r\x1c\r',
  );
}

// Returns [bytes used, ok] for the reply at the front of buf, or null when it is not complete.
function isoReply(buf) {
  if (buf.length < 2) return null;
  const n = buf.readUInt16BE(0);
  if (buf.length < 2 + n) return null;
  // Field 39 is not located without decoding; the ISO host answers 00 to this request, and a
  // 0110 at the front (bytes 2..5) is checked.
  return [2 + n, buf.toString('latin1', 2, 6) === '0110'];
}
function mllpReply(buf) {
  const end = buf.indexOf(0x1c);
  if (end < 0 || buf.length < end + 2) return null;
  const msa = buf.indexOf('\rMSA|');
  return [end + 2, msa >= 0 && msa < end && buf.toString('latin1', msa + 5, msa + 7) === 'AA'];
}

const parse = proto === 'iso8583' ? isoReply : mllpReply;
const samples = [];
let errors = 0;
let ioErrors = 0;
let stopping = false;
let open = 0;
let connected = 0;
const starters = [];
// The clock starts once every connection is up (as wrk's does): connecting 64 sockets to a busy
// host must not eat the measured seconds.
let start = 0n;
let deadline = 0n;

function connection(i) {
  const request = proto === 'iso8583' ? isoRequest(i) : hl7Request(i);
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let sent = 0n;
  ++open;
  const fire = () => {
    sent = process.hrtime.bigint();
    if (sent >= deadline) {
      sock.end();
      return;
    }
    sock.write(request);
  };
  starters.push(fire);
  sock.on('connect', () => {
    if (++connected < connections) return;
    start = process.hrtime.bigint();
    deadline = start + BigInt(Math.round(seconds * 1e9));
    for (const f of starters) f();
  });
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const r = parse(buf);
      if (!r) break;
      buf = buf.subarray(r[0]);
      samples.push(Number(process.hrtime.bigint() - sent) / 1000);
      if (!r[1]) ++errors;
      fire();
    }
  });
  sock.on('error', () => ++ioErrors);
  sock.on('close', () => {
    if (--open === 0) report();
  });
}

function report() {
  if (stopping) return;
  stopping = true;
  const secs = start ? Number(process.hrtime.bigint() - start) / 1e9 : 0;
  samples.sort((a, b) => a - b);
  const pct = (p) => (samples.length ? samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))] : 0);
  console.log(JSON.stringify({
    requests: samples.length, errors, io_errors: ioErrors + (start ? 0 : 1), seconds: Number(secs.toFixed(4)),
    rps: secs ? Number((samples.length / secs).toFixed(1)) : 0, p50_us: Number(pct(50).toFixed(1)), p90_us: Number(pct(90).toFixed(1)),
    p99_us: Number(pct(99).toFixed(1)), p999_us: Number(pct(99.9).toFixed(1)), max_us: Number((samples.at(-1) || 0).toFixed(1)),
  }));
  process.exit(0);
}

for (let i = 0; i < connections; ++i) connection(i);
// A host that stops answering, or never accepts every connection, still ends the run.
setTimeout(report, (seconds + 10) * 1000).unref();
