#!/usr/bin/python3
# An HL7 v2 MLLP receiver on Debian's python3-hl7 (hl7.mllp): ACKs every message, for e2e tests.
#
#   /usr/bin/python3 tests/peers/hl7_listener.py [--port N]
#
# Prints {"listening": PORT} on the first line, then one JSON line per message received
# ({"received": control id, "type": "ADT^A01", "pid3": ...}). The ACK is python-hl7's
# Message.create_ack (original mode, HL7 v2.5 section 2.9.2), so it has that library's quirks:
# separators copied from the request, a generated 20-character MSH-10, CR after every segment.
# PID-3.1 chooses the answer: "REJECT" -> AR with MSA-3 text and an ERR segment, "ERROR" -> AE,
# "SLOW" -> AA after 300 ms, anything else -> AA.
import argparse
import asyncio
import json
import sys

import hl7
import hl7.mllp


def pid3(message):
    try:
        return str(message.segment("PID")(3)(1)(1))
    except (KeyError, IndexError):
        return ""


def answer(message):
    patient = pid3(message)
    control_id = str(message.segment("MSH")(10))
    if patient == "REJECT":
        ack = str(message.create_ack("AR")).rstrip("\r")
        # create_ack writes MSA-1 and MSA-2 only; add the text (MSA-3) and an ERR (v2.5 2.15.5).
        ack += "|Patient rejected\rERR||PID^1^3|207^Application internal error^HL70357|E||||PID-3 is REJECT"
        return ack, "AR"
    if patient == "ERROR":
        return str(message.create_ack("AE")).rstrip("\r") + "|Processing error", "AE"
    return str(message.create_ack("AA")), "AA"


async def serve(reader, writer):
    try:
        while not reader.at_eof():
            message = await reader.readmessage()
            ack, code = answer(message)
            print(json.dumps({"received": str(message.segment("MSH")(10)),
                              "type": str(message.segment("MSH")(9)),
                              "pid3": pid3(message), "ack": code}), flush=True)
            if pid3(message) == "SLOW":
                await asyncio.sleep(0.3)
            writer.writemessage(ack)
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    except Exception as e:  # a broken message closes only this connection
        print(json.dumps({"error": repr(e)}), flush=True)
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = await hl7.mllp.start_hl7_server(serve, args.host, args.port, encoding="utf-8")
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"listening": port}), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
