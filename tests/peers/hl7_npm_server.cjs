#!/usr/bin/env node
// An HL7 v2 MLLP receiver on the npm package node-hl7-server (2.5.0), for dragoman's e2e tests.
//
//   node tests/peers/hl7_npm_server.cjs [--port N]
//
// Prints {"listening": PORT} first, then one JSON line per message received. PID-3.1 chooses the
// answer: "REJECT" -> AR, "ERROR" -> AE, anything else -> AA. The ACKs are the library's own,
// with its quirks: MSH-10 is always the text "ACK", MSH-9 is ACK^<trigger> (no MSH-9.3 unless
// overrideMSH), MSA has only MSA-1 and MSA-2, and it keeps everything a connection has sent in
// one buffer (see docs/hl7.md).
'use strict'
const { Server } = require('node-hl7-server')

const args = process.argv.slice(2)
const portIndex = args.indexOf('--port')
const port = portIndex >= 0 ? Number(args[portIndex + 1]) : 0

const server = new Server({ bindAddress: '127.0.0.1' })
const inbound = server.createInbound({ port }, async (req, res) => {
  const message = req.getMessage()
  const pid3 = message.get('PID.3.1').toString()
  const code = pid3 === 'REJECT' ? 'AR' : pid3 === 'ERROR' ? 'AE' : 'AA'
  process.stdout.write(JSON.stringify({
    received: message.get('MSH.10').toString(),
    type: message.get('MSH.9').toString(),
    pid3,
    ack: code
  }) + '\n')
  await res.sendResponse(code)
})
inbound.on('listen', () => {
  // The library does not expose the bound port; its net.Server is the listener's _socket.
  process.stdout.write(JSON.stringify({ listening: inbound._socket.address().port }) + '\n')
})
inbound.on('data.error', (err) => {
  process.stdout.write(JSON.stringify({ error: String(err) }) + '\n')
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => { void inbound.close().finally(() => process.exit(0)) })
}
