#!/bin/sh
# The `certs` job: makes sure nginx has a certificate and key in /etc/nginx/certs.
# - both files present: nothing to do (your own certificate, or a kept self-signed pair for
#   DOMAIN; one made for another name is made again);
# - TLS_CERT_DIR set (you provide the files) but something is missing: fail, naming the file;
# - otherwise: write a self-signed certificate for DOMAIN (valid 825 days, the longest clients
#   accept for a leaf), an ECDSA P-256 key readable only by its owner.
# POSIX sh and openssl only: it runs in the nginx image (see compose.yml).
set -eu

dir=/etc/nginx/certs
cert="$dir/${TLS_CERT_FILE:?}"
key="$dir/${TLS_KEY_FILE:?}"

if [ -s "$cert" ] && [ -s "$key" ]; then
  # A kept self-signed pair is for the DOMAIN it was made for: when DOMAIN changes, nginx
  # would serve a certificate for the old name (and its healthcheck, which asks for the new
  # one, would fail for good), so the pair is made again. Provided certificates are never
  # touched.
  if [ -n "${TLS_CERT_DIR:-}" ] || ! command -v openssl >/dev/null 2>&1 ||
    openssl x509 -in "$cert" -noout -checkhost "${DOMAIN:?}" 2>/dev/null | grep -q 'does match'; then
    echo "certs: $cert and $key in place; nothing to do"
    exit 0
  fi
  echo "certs: the self-signed certificate in $cert is not for $DOMAIN; making a new one"
fi
if [ -n "${TLS_CERT_DIR:-}" ]; then
  for f in "$cert" "$key"; do
    [ -s "$f" ] || echo "certs: error: \`${f#"$dir"/}\` is missing or empty in TLS_CERT_DIR=$TLS_CERT_DIR" >&2
  done
  echo "hint: put the certificate chain and key there, or leave TLS_CERT_DIR empty for a self-signed pair" >&2
  exit 1
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "certs: error: this image has no \`openssl\` command" >&2
  echo "hint: run the job in an image that has it (the Debian-based \`nginx\` image does), or set TLS_CERT_DIR" >&2
  exit 1
fi

# A leaf certificate (CA:FALSE, serverAuth, the name as subjectAltName): TLS clients such as
# rustls refuse a CA certificate used as a server's certificate, which is what `openssl req
# -x509` makes with the distribution's default configuration.
conf=$(mktemp)
trap 'rm -f "$conf" "$cert.new" "$key.new"' EXIT
cat > "$conf" <<EOF
[req]
distinguished_name = dn
x509_extensions = leaf
prompt = no
[dn]
CN = ${DOMAIN:?}
[leaf]
subjectAltName = DNS:${DOMAIN}
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
EOF
mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
umask 077
openssl req -x509 -config "$conf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -nodes -days 825 \
  -keyout "$key.new" -out "$cert.new"
chmod 644 "$cert.new"
mv "$key.new" "$key"
mv "$cert.new" "$cert"
echo "certs: wrote a self-signed certificate for $DOMAIN to $cert (key $key)"
