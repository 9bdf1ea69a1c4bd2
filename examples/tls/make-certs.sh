#!/usr/bin/env bash
# A private CA and the certificates docker-compose.yml's Temporal TLS needs, in one folder:
#   ca.pem            the CA every client trusts (TEMPORAL_TLS_SERVER_CA_CERT_PATH) and the server
#                     checks client certificates against (mutual TLS)
#   temporal.pem/.key the server's certificate, for the name "temporal" (and localhost, 127.0.0.1)
#   client.pem/.key   the certificate the worker, the CLI, the UI and the setup job present
# Usage: examples/tls/make-certs.sh [dir]   (default ./gantry-tls; keep ca.key offline afterwards)
set -euo pipefail
dir="${1:-./gantry-tls}"
days="${GANTRY_TLS_DAYS:-825}"
mkdir -p "$dir"
cd "$dir"
umask 077

openssl req -x509 -newkey rsa:4096 -sha256 -nodes -days "$days" \
  -keyout ca.key -out ca.pem -subj "/CN=Gantry Temporal CA" \
  -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name, subject CN, extended key usage, subjectAltName
  openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n%s\n' "$3" "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue temporal temporal serverAuth,clientAuth "subjectAltName=DNS:temporal,DNS:localhost,IP:127.0.0.1"
issue client gantry clientAuth ""
chmod 0644 ca.pem temporal.pem client.pem
# Containers run as other users than yours: the keys must be readable by them (the folder is mounted read-only).
chmod 0644 temporal.key client.key
rm -f ca.srl
echo "make-certs: $(pwd): ca.pem, temporal.pem/.key, client.pem/.key (valid ${days} days); move ca.key somewhere safe"
