#!/usr/bin/env python3
"""The Kubernetes bases as shipped pass scripts/check-deploy (render, API schema, invariants), and
each deliberately broken copy fails it naming the broken rule."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, Checks  # noqa: E402

CHECK = os.path.join(SRC, "scripts", "check-deploy")
BASES = os.path.join(SRC, "deploy", "kubernetes")

# (name, base, file, text to replace (first occurrence), replacement, what the checker must say)
BROKEN = [
    ("sidecar HTTP door off loopback", "sidecar", "deployment.yaml",
     "value: 127.0.0.1:8080", "value: 0.0.0.0:8080", "a sidecar's doors belong on loopback"),
    # The mistake of the old deploy/sidecar.yaml: a probe at the loopback HTTP door.
    ("startup probe at the HTTP door", "sidecar", "deployment.yaml",
     "port: health", "port: 8080", "startupProbe probes port 8080, not the health listener"),
    ("health listener on loopback", "sidecar", "deployment.yaml",
     "value: 0.0.0.0:8086", "value: 127.0.0.1:8086", "is on loopback"),
    ("writable root filesystem", "sidecar", "deployment.yaml",
     "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
     "readOnlyRootFilesystem must be true"),
    ("drain longer than the grace period", "sidecar", "deployment.yaml",
     'value: "20000"', 'value: "28000"', "terminationGracePeriodSeconds 30 is shorter"),
    ("not a native sidecar", "sidecar", "deployment.yaml",
     "restartPolicy: Always", "restartPolicy: OnFailure", "restartPolicy: Always"),
    ("a port that is not a number", "sidecar", "deployment.yaml",
     "containerPort: 8086", 'containerPort: "8086"', "must be integer"),
    ("profile copy drifted", "sidecar", "profile.json",
     '"max_frame_length": 4096', '"max_frame_length": 4095', "differs from profiles/acme-core.json"),
    ("one replica too many", "ambassador", "deployment.yaml",
     "replicas: 3", "replicas: 4", "connection arithmetic"),
    ("rollout surge over the limit", "ambassador", "deployment.yaml",
     "maxSurge: 0", "maxSurge: 1", "connection arithmetic"),
    ("disruption budget wider than the rollout", "ambassador", "poddisruptionbudget.yaml",
     "maxUnavailable: 1", "maxUnavailable: 2", "lets more pods go at once"),
    ("admin off loopback without the token", "ambassador", "deployment.yaml",
     "name: DRAGOMAN_ADMIN_TOKEN", "name: DRAGOMAN_ADMIN_SECRET", "need DRAGOMAN_ADMIN_TOKEN"),
    ("ambassador doors off loopback without authentication", "ambassador", "deployment.yaml",
     "name: DRAGOMAN_ALLOW_UNAUTHENTICATED_DOOR", "name: DRAGOMAN_ALLOW_UNAUTHENTICATED",
     "is off loopback: give DRAGOMAN_DOOR_TOKENS"),
    ("connections left to the profile", "ambassador", "deployment.yaml",
     "name: DRAGOMAN_UPSTREAM_CONNECTIONS", "name: DRAGOMAN_UPSTREAM_CONNECTION_COUNT",
     "DRAGOMAN_UPSTREAM_CONNECTIONS must be set"),
]


def main():
    check = Checks()
    if shutil.which("kubectl") is None:
        print("SKIP: kubectl (with its built-in kustomize) is not installed")
        sys.exit(77)
    shipped = subprocess.run([CHECK], capture_output=True, text=True)
    check("shipped bases pass", shipped.returncode == 0, shipped.stdout + shipped.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        copies = []
        for i, (name, base, file, old, new, _) in enumerate(BROKEN):
            copy = os.path.join(tmp, f"{i:02d}-{base}")
            shutil.copytree(os.path.join(BASES, base), copy)
            path = os.path.join(copy, file)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            check(f"mutation applies: {name}", old in text, f"{old!r} not in {base}/{file}")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(old, new, 1))
            copies.append(copy)
        # One run for every broken copy: each line of the report starts with its base.
        broken = subprocess.run([CHECK] + copies, capture_output=True, text=True)
        check("broken copies fail the check", broken.returncode == 1, broken.stderr)
        lines = broken.stdout.splitlines()
        for copy, (name, _, _, _, _, says) in zip(copies, BROKEN):
            mine = [line for line in lines if line.startswith(copy + ":")]
            check(f"caught: {name}", any(says in line for line in mine),
                  f"expected {says!r} in {mine}")
    check.finish()


if __name__ == "__main__":
    main()
