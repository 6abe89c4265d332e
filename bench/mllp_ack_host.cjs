// A fast HL7 v2 MLLP receiver for scripts/bench: answers every message with an original-mode ACK
// (MSA-1 AA, MSA-2 the message's MSH-10; MSH-3..6 the message's MSH-5/6/3/4, MSH-9 ACK^<trigger>^ACK,
// MSH-10 "A" + MSH-10, MSH-11/12 copied), reading only MSH with plain string operations: the host
// must not be the bottleneck of the HL7 rows. tests/peers/hl7_npm_server.cjs (node-hl7-server) is
// the realistic receiver, but it keeps every byte a connection has sent and re-answers all of it
// on each new message (docs/hl7.md), so on a persistent connection its cost grows with every call.
//
//   node bench/mllp_ack_host.cjs [PORT]    prints {"listening":PORT}
'use strict';
const net = require('net');

const VT = 0x0b;
const FS = 0x1c;
const maxFrame = 1048576;

function timestamp() {
  return new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function ack(message) {
  const cr = message.indexOf('\r');
  const msh = (cr < 0 ? message : message.slice(0, cr)).split(message[3] || '|');
  const comp = (msh[1] || '^')[0];
  const trigger = (msh[8] || '').split(comp)[1] || '';
  const id = msh[9] || '';
  return (
    `MSH|^~\\&|${msh[4] || ''}|${msh[5] || ''}|${msh[2] || ''}|${msh[3] || ''}|${timestamp()}||ACK^${trigger}^ACK|A${id}|` +
    `${msh[10] || 'P'}|${msh[11] || '2.5'}\rMSA|AA|${id}\r`
  );
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let out = '';
    for (;;) {
      const start = pending.indexOf(VT);
      if (start < 0) {
        pending = Buffer.alloc(0);
        break;
      }
      const end = pending.indexOf(FS, start);
      if (end < 0) {
        if (pending.length - start > maxFrame) return socket.destroy();
        pending = pending.subarray(start);
        break;
      }
      out += '\x0b' + ack(pending.toString('utf8', start + 1, end)) + '\x1c\r';
      pending = pending.subarray(end + 2);
    }
    if (out) socket.write(out);
  });
  socket.on('error', () => {});
});
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
