#!/usr/bin/env python3
# End-to-end test of profiles/modbus-tcp.json against two Modbus TCP servers other people wrote:
# libmodbus's unit-test-server (built here from Debian's libmodbus-dev examples) and a pymodbus
# server, with mbpoll (an independent client) reading back what dragoman wrote. The servers use
# fixed ports (unit-test-server always 1502), so everything runs in a private network namespace
# (`unshare -rn`): the test re-executes itself there. `dragoman simulate` plays a device for
# mbpoll too.
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import SRC, Checks, Process, post, serve, wait_port

PROFILE = os.path.join(SRC, "profiles", "modbus-tcp.json")
EXAMPLES = "/usr/share/doc/libmodbus-dev/examples"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-pymodbus lives there
PYMODBUS_PORT = 5020

PYMODBUS_SERVER = """
import sys
from pymodbus.server import StartTcpServer
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
block = lambda: ModbusSequentialDataBlock(0, [0] * 100)
store = ModbusSlaveContext(di=block(), co=block(), hr=block(), ir=block(), zero_mode=True)
StartTcpServer(context=ModbusServerContext(slaves=store, single=True),
               address=("127.0.0.1", int(sys.argv[1])))
"""


def skip(why):
    print("skip: " + why, flush=True)
    sys.exit(77)


def outside():
    """Checks the tools, then runs this test again inside a private network namespace."""
    for tool in ("gcc", "mbpoll", "unshare", "ip"):
        if not shutil.which(tool):
            skip(tool + " is not installed (scripts/setup installs it)")
    if not os.path.exists(os.path.join(EXAMPLES, "unit-test-server.c")):
        skip("libmodbus-dev examples are not installed (scripts/setup installs them)")
    if subprocess.run([SYSTEM_PYTHON, "-c", "import pymodbus.server"],
                      capture_output=True).returncode != 0:
        skip("python3-pymodbus is not installed (scripts/setup installs it)")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        skip("unprivileged network namespaces (unshare -rn) are not available")
    env = dict(os.environ, DRAGOMAN=os.path.abspath(harness.DRAGOMAN))
    inner = "ip link set lo up && exec \"$0\" \"$1\" --inside"
    rc = subprocess.run(["unshare", "-rn", "sh", "-c", inner, sys.executable,
                         os.path.abspath(__file__)], env=env, timeout=300).returncode
    sys.exit(rc)


def bits(table, count):
    """The first count bits of a libmodbus bit table (LSB first), as booleans."""
    return [bool(table[i // 8] >> (i % 8) & 1) for i in range(count)]


def mbpoll(port, kind, address, count):
    """Values read by mbpoll (0-based addresses), or the output when it fails."""
    p = subprocess.run(["mbpoll", "-m", "tcp", "-a", "1", "-0", "-r", str(address), "-c",
                        str(count), "-t", kind, "-p", str(port), "-1", "127.0.0.1"],
                       capture_output=True, text=True, timeout=20)
    values = []
    for line in p.stdout.splitlines():
        if line.startswith("[") and "]:" in line:
            values.append(int(line.split("]:", 1)[1].split()[0]))
    return values if len(values) == count else p.stdout + p.stderr


def against_unit_test_server(check, tmp):
    binary = os.path.join(tmp, "unit-test-server")
    build = subprocess.run(["gcc", "-I" + EXAMPLES, "-I/usr/include/modbus", "-o", binary,
                            os.path.join(EXAMPLES, "unit-test-server.c"), "-lmodbus"],
                           capture_output=True, text=True)
    if not check("unit-test-server builds", build.returncode == 0, build.stderr):
        return
    server = Process([binary, "tcp"])  # 127.0.0.1:1502, one client
    dragoman = None
    try:
        if not check("unit-test-server listens on 1502", wait_port_once(server)):
            return
        dragoman, ev = serve(PROFILE, ["127.0.0.1:1502"], ["--upstream-connections", "1"])
        if not check("dragoman listens", ev is not None, dragoman.output()):
            return
        http = ev["http"]
        # The coils unit-test-client writes first (UT_BITS_TAB), then the tables unit-test.h
        # fills the server with.
        want = bits([0xCD, 0x6B, 0xB2, 0x0E, 0x1B], 0x25)
        st, body, _ = post(http, "write_multiple_coils",
                           {"unit": 17, "address": 0x130, "values": want})
        check("write_multiple_coils (15) of 37 coils", st == 200 and
              body == {"address": 0x130, "count": 0x25}, body)
        st, body, _ = post(http, "read_coils", {"unit": 17, "address": 0x130, "count": 0x25})
        check("read_coils (1) gives them back as booleans (padded to whole bytes)",
              st == 200 and body["values"][:0x25] == want and len(body["values"]) == 40
              and body["values"][0x25:] == [False] * 3, body)
        st, body, _ = post(http, "read_discrete_inputs", {"unit": 17, "address": 0x1C4,
                                                          "count": 0x16})
        check("read_discrete_inputs (2)", st == 200 and
              body["values"][:0x16] == bits([0xAC, 0xDB, 0x35], 0x16), body)
        st, body, _ = post(http, "read_input_registers", {"unit": 17, "address": 0x108,
                                                          "count": 1})
        check("read_input_registers (4) gives numbers", st == 200 and
              body["values"] == [10], body)
        # Writes, read back through dragoman.
        st, body, _ = post(http, "write_multiple_registers",
                           {"unit": 17, "address": 0x160, "values": [7, 8, 9]})
        check("write_multiple_registers (16)", st == 200 and
              body == {"address": 0x160, "count": 3}, body)
        st, body, _ = post(http, "read_holding_registers", {"unit": 17, "address": 0x160,
                                                            "count": 3})
        check("read_holding_registers (3) reads them back", st == 200 and
              body["values"] == [7, 8, 9], body)
        st, body, _ = post(http, "write_single_register", {"address": 0x161, "value": 0xBEEF})
        check("write_single_register (6) echoes", st == 200 and
              body == {"address": 0x161, "value": 0xBEEF}, body)
        st, body, _ = post(http, "read_holding_registers", {"address": 0x160, "count": 3})
        check("... and is read back", body.get("values") == [7, 0xBEEF, 9], body)
        st, body, _ = post(http, "write_multiple_coils",
                           {"address": 0x130, "values": [False, True, False, True, True]})
        check("write_multiple_coils (15)", st == 200 and
              body == {"address": 0x130, "count": 5}, body)
        st, body, _ = post(http, "write_single_coil", {"address": 0x135, "value": True})
        check("write_single_coil (5) echoes a boolean", st == 200 and
              body == {"address": 0x135, "value": True}, body)
        st, body, _ = post(http, "read_coils", {"address": 0x130, "count": 6})
        check("coils read back", body.get("values", [])[:6] ==
              [False, True, False, True, True, True], body)
        # The server's exceptions.
        st, body, _ = post(http, "read_holding_registers", {"address": 0x170, "count": 1})
        check("exception 06 (busy) is rejected", st == 422 and body.get("code") == "rejected"
              and body.get("legacy_code") == "06" and "server device busy" in body.get("detail",
                                                                                    ""), body)
        st, body, _ = post(http, "read_holding_registers", {"address": 0x0, "count": 1})
        check("exception 02 (illegal data address)", st == 422 and
              body.get("legacy_code") == "02" and "illegal data address" in
              body.get("detail", ""), body)
        st, body, _ = post(http, "read_holding_registers", {"address": 0x160, "count": 200})
        check("exception 03 (illegal data value)", st == 422 and
              body.get("legacy_code") == "03", body)
        st, body, _ = post(http, "write_single_register", {"address": 0x2000, "value": 1})
        check("a write's exception too", st == 422 and body.get("legacy_code") == "02", body)
        st, body, _ = post(http, "write_multiple_registers", {"address": 1, "values": [70000]})
        check("a value out of range is invalid_field", st == 422 and
              body.get("code") == "invalid_field" and "0..65535" in body.get("detail", ""), body)
    finally:
        if dragoman:
            dragoman.stop()
        server.stop()
        server.kill()


def wait_port_once(server):
    """unit-test-server serves one client: wait until it is listening without connecting."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if server.proc.poll() is not None:
            return False
        out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout \
            if shutil.which("ss") else ""
        if ":1502" in out:
            return True
        if not shutil.which("ss"):
            try:
                with open("/proc/net/tcp") as f:
                    if any(":05DE " in line and line.split()[3] == "0A" for line in f):
                        return True
            except OSError:
                pass
        time.sleep(0.05)
    return False


def against_pymodbus(check, then):
    server = Process([SYSTEM_PYTHON, "-c", PYMODBUS_SERVER, str(PYMODBUS_PORT)])
    dragoman = None
    try:
        if not check("pymodbus server listens", wait_port(PYMODBUS_PORT), server.output()):
            return
        dragoman, ev = serve(PROFILE, [f"127.0.0.1:{PYMODBUS_PORT}"])
        if not check("dragoman listens (pymodbus)", ev is not None):
            return
        http = ev["http"]
        st, body, _ = post(http, "write_multiple_registers", {"address": 10, "values": [7, 8, 9]})
        check("pymodbus: write_multiple_registers", st == 200, body)
        check("mbpoll reads the registers dragoman wrote",
              mbpoll(PYMODBUS_PORT, "4", 10, 3) == [7, 8, 9])
        st, body, _ = post(http, "write_single_register", {"address": 20, "value": 65535})
        check("pymodbus: write_single_register", st == 200, body)
        check("mbpoll reads it", mbpoll(PYMODBUS_PORT, "4", 20, 1) == [65535])
        st, body, _ = post(http, "write_multiple_coils",
                           {"address": 3, "values": [True, False, True, True]})
        check("pymodbus: write_multiple_coils", st == 200, body)
        st, body, _ = post(http, "write_single_coil", {"address": 8, "value": True})
        check("pymodbus: write_single_coil", st == 200, body)
        check("mbpoll reads the coils", mbpoll(PYMODBUS_PORT, "0", 3, 6) == [1, 0, 1, 1, 0, 1])
        st, body, _ = post(http, "read_holding_registers", {"address": 10, "count": 3})
        check("pymodbus: read_holding_registers", body.get("values") ==
              [7, 8, 9], body)
        st, body, _ = post(http, "read_coils", {"address": 3, "count": 6})
        check("pymodbus: read_coils", body.get("values", [])[:6] ==
              [True, False, True, True, False, True], body)
        st, body, _ = post(http, "read_input_registers", {"address": 0, "count": 2})
        check("pymodbus: read_input_registers", body.get("values") == [0, 0],
              body)
        st, body, _ = post(http, "read_discrete_inputs", {"address": 0, "count": 3})
        check("pymodbus: read_discrete_inputs", st == 200 and
              body["values"][:3] == [False] * 3, body)
        st, body, _ = post(http, "read_holding_registers", {"address": 99, "count": 5})
        check("pymodbus: exception 02", st == 422 and body.get("legacy_code") == "02" and
              "illegal data address" in body.get("detail", ""), body)
        dragoman.stop()
        dragoman = None
        then()
    finally:
        if dragoman:
            dragoman.stop()
        server.stop()
        server.kill()


def several_in_flight(check, tmp):
    """With correlation.max_in_flight raised, calls share one connection and each reply finds its
    call by transaction id."""
    text = open(PROFILE).read()
    text = re.sub(r'"max_in_flight": 1', '"max_in_flight": 8', text)
    profile = os.path.join(tmp, "modbus-pipelined.json")
    with open(profile, "w") as f:
        f.write(text)
    dragoman, ev = serve(profile, [f"127.0.0.1:{PYMODBUS_PORT}"], ["--upstream-connections", "1"])
    try:
        if not check("dragoman listens (8 in flight)", ev is not None):
            return
        http = ev["http"]
        results = {}

        def call(k):
            st, body, _ = post(http, "write_single_register", {"address": 40 + k, "value": k})
            results[k] = (st, body)

        threads = [threading.Thread(target=call, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        check("8 concurrent calls on one connection each get their own reply",
              all(results.get(k, (0, {}))[0] == 200 and
                  results[k][1] == {"address": 40 + k, "value": k} for k in range(8)), results)
        check("mbpoll reads all 8", mbpoll(PYMODBUS_PORT, "4", 40, 8) == list(range(8)))
    finally:
        dragoman.stop()


def simulator_for_mbpoll(check, tmp):
    """`dragoman simulate` plays a device for an independent client: writes are echoed, reads
    answered from a rules file, an exception from a rule."""
    rules = os.path.join(tmp, "rules.json")
    with open(rules, "w") as f:
        json.dump({"rules": [{"op": "read_holding_registers", "when": {"address": 99},
                              "reply": {"exception": 1, "exception_code": "02"}}],
                   "defaults": {"read_holding_registers": {"values": "[1,2]"}}}, f)
    port = 15020
    sim = Process([harness.DRAGOMAN, "simulate", "--profile", PROFILE, "--listen",
                   f"127.0.0.1:{port}", "--responses", rules])
    try:
        if not check("simulate listens", wait_port(port), sim.output()):
            return
        check("mbpoll reads registers from the simulator", mbpoll(port, "4", 10, 2) == [1, 2])
        out = mbpoll(port, "4", 99, 2)
        check("mbpoll gets the simulator's exception", isinstance(out, str) and
              "Illegal data address" in out, out)
        p = subprocess.run(["mbpoll", "-m", "tcp", "-a", "1", "-0", "-r", "5", "-t", "4", "-p",
                            str(port), "-1", "127.0.0.1", "7"], capture_output=True, text=True,
                           timeout=20)
        check("mbpoll writes a register to the simulator", "Written 1 references" in p.stdout,
              p.stdout + p.stderr)
    finally:
        sim.stop()


def inside():
    check = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        against_unit_test_server(check, tmp)
        simulator_for_mbpoll(check, tmp)
        against_pymodbus(check, lambda: several_in_flight(check, tmp))
    check.finish()


if __name__ == "__main__":
    if "--inside" in sys.argv:
        inside()
    else:
        outside()
