/**
 * Certificates made at run time with the openssl CLI: a CA, a server
 * certificate for 127.0.0.1/localhost and client certificates. P-256 keys
 * keep this under a second.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  server: CertFiles;
  client: CertFiles;
  /** A certificate signed by `ca` with the given CN and SANs. */
  issue(name: string, options?: { san?: string; clientAuth?: boolean }): CertFiles;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

export function makePki(dir: string, caName = "test-ca"): Pki {
  const ca = join(dir, `${caName}.crt`);
  const caKey = join(dir, `${caName}.key`);
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      caKey,
      "-out",
      ca,
      "-days",
      "3",
      "-subj",
      `/CN=${caName}`,
    ],
    dir,
  );
  const issue = (name: string, options: { san?: string; clientAuth?: boolean } = {}): CertFiles => {
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    const csr = join(dir, `${name}.csr`);
    const ext = join(dir, `${name}.ext`);
    openssl(
      [
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        csr,
        "-subj",
        `/CN=${name}`,
      ],
      dir,
    );
    const lines = [
      options.clientAuth ? "extendedKeyUsage=clientAuth" : "extendedKeyUsage=serverAuth",
    ];
    if (options.san) lines.push(`subjectAltName=${options.san}`);
    writeFileSync(ext, `${lines.join("\n")}\n`);
    openssl(
      [
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        caKey,
        "-CAcreateserial",
        "-out",
        cert,
        "-days",
        "2",
        "-extfile",
        ext,
      ],
      dir,
    );
    return { cert, key };
  };
  return {
    dir,
    ca,
    caKey,
    server: issue(`${caName}-server`, { san: "IP:127.0.0.1,DNS:localhost" }),
    client: issue(`${caName}-host`, { clientAuth: true }),
    issue,
  };
}
