"""Test certificates made with the openssl command line in a directory of the test's own: a CA
(self-signed, P-256) and leaves it signs with a subjectAltName and an extendedKeyUsage. Shared by
the TLS end-to-end tests (upstream TLS, door TLS, TLS on the upstream listener)."""
import os
import subprocess


class CertDir:
    def __init__(self, directory, openssl):
        self.dir, self.openssl = directory, openssl

    def path(self, name):
        return os.path.join(self.dir, name)

    def ossl(self, *args, cwd=None):
        r = subprocess.run([self.openssl, *args], cwd=cwd or self.dir, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))

    def make_ca(self, name):
        self.ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".crt", "-days", "30", "-subj", "/CN=" + name)

    def make_leaf(self, name, ca, san, usage="serverAuth"):
        self.ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        with open(self.path(name + ".ext"), "w") as f:
            if san:
                f.write("subjectAltName=%s\n" % san)
            f.write("extendedKeyUsage=%s\n" % usage)
        self.ossl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                  "-CAcreateserial", "-days", "10", "-out", name + ".crt", "-extfile", name + ".ext")
