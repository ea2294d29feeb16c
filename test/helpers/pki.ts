/**
 * Certificates made at run time with the openssl CLI: a CA, a server
 * certificate for 127.0.0.1/localhost and client certificates. P-256 keys
 * keep this under a second.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface IssueOptions {
  san?: string;
  clientAuth?: boolean;
  /** Exact validity (openssl's YYYYMMDDHHMMSSZ), for expired or not-yet-valid certificates. */
  validity?: { start: string; end: string };
}

export interface Pki {
  dir: string;
  ca: string;
  caKey: string;
  server: CertFiles;
  client: CertFiles;
  /** A certificate signed by `ca` with the given CN and SANs. */
  issue(name: string, options?: IssueOptions): CertFiles;
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
      // long enough that preflight's 7-day expiry warning stays quiet, also under a fake clock days ahead
      "-days",
      "30",
      "-subj",
      `/CN=${caName}`,
    ],
    dir,
  );
  const issue = (name: string, options: IssueOptions = {}): CertFiles => {
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
    if (options.validity) {
      signWithDates(dir, ca, caKey, csr, cert, ext, options.validity);
      return { cert, key };
    }
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
        "20",
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

/** `openssl x509 -req` (OpenSSL 3.0) cannot set dates in the past; `openssl ca` can. */
function signWithDates(
  dir: string,
  ca: string,
  caKey: string,
  csr: string,
  cert: string,
  ext: string,
  validity: { start: string; end: string },
): void {
  const db = join(dir, "ca-db");
  mkdirSync(db, { recursive: true });
  writeFileSync(join(db, "index.txt"), "");
  writeFileSync(join(db, "serial"), `${Date.now().toString(16).padStart(16, "0")}\n`);
  const config = join(db, "ca.cnf");
  writeFileSync(
    config,
    [
      "[ca]",
      "default_ca = test_ca",
      "[test_ca]",
      `database = ${join(db, "index.txt")}`,
      `new_certs_dir = ${db}`,
      `serial = ${join(db, "serial")}`,
      "default_md = sha256",
      "policy = any",
      "unique_subject = no",
      "[any]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  openssl(
    [
      "ca",
      "-batch",
      "-notext",
      "-config",
      config,
      "-cert",
      ca,
      "-keyfile",
      caKey,
      "-in",
      csr,
      "-out",
      cert,
      "-extfile",
      ext,
      "-startdate",
      validity.start,
      "-enddate",
      validity.end,
    ],
    dir,
  );
}
