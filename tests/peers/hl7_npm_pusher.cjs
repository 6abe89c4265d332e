#!/usr/bin/env node
// An HL7 v2 MLLP host that pushes lab results on the connection its partner opens, for dragoman's
// inbound e2e tests: messages built and ACKs parsed with the npm package node-hl7-client (2.3.1,
// installed with node-hl7-server), the socket is node's own.
//
//   node tests/peers/hl7_npm_pusher.cjs ID [ID...]
//
// Prints {"listening": PORT} first; when a partner connects, sends one ORU^R01 per ID (MSH-10
// the ID) without waiting, then prints one JSON line per ACK: {"ack": MSA-1, "control_id":
// MSA-2, "text": MSA-3}, and {"done": N} after N ACKs.
'use strict'
const net = require('net')
const { Message } = require('node-hl7-client')

const ids = process.argv.slice(2)
const VT = '\x0b'
const FS_CR = '\x1c\x0d'

function result (id, i) {
  const m = new Message({
    text: 'MSH|^~\\&|LIS|LAB|HIS|HOSP|20240102030405||ORU^R01^ORU_R01|X|P|2.5\r' +
      'PID|1||777^^^^MR||ROE^RICHARD\r' +
      'OBR|1|ORD1||24331-1^Lipid panel^LN\r' +
      'OBX|1|NM|2093-3^Cholesterol^LN||196|mg/dL|<200||||F'
  })
  m.set('MSH.10', id)
  m.set('OBX.5', String(190 + i))
  return m.toString()
}

const server = net.createServer((socket) => {
  let buffer = ''
  let acks = 0
  socket.setEncoding('utf8')
  socket.on('data', (chunk) => {
    buffer += chunk
    let end
    while ((end = buffer.indexOf(FS_CR)) >= 0) {
      const text = buffer.slice(0, end).replace(VT, '')
      buffer = buffer.slice(end + 2)
      const ack = new Message({ text })
      process.stdout.write(JSON.stringify({
        ack: ack.get('MSA.1').toString(),
        control_id: ack.get('MSA.2').toString(),
        text: ack.get('MSA.3').toString()
      }) + '\n')
      if (++acks === ids.length) process.stdout.write(JSON.stringify({ done: acks }) + '\n')
    }
  })
  socket.on('error', () => {})
  socket.write(ids.map((id, i) => VT + result(id, i) + FS_CR).join(''))
})
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n')
})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
