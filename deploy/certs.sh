#!/usr/bin/env bash
# certs.sh DIR NAME...: makes a CA and one certificate per node for the
# mutual TLS of actorio's cluster links (ClusterOptions.TLS), with
# OpenSSL: DIR/ca.crt and DIR/ca.key, then DIR/NAME.crt and DIR/NAME.key
# for each NAME. Every node gets ca.crt and its own pair; keep ca.key off
# the nodes. Certificates last a year; host names are not checked, so a
# node's name is only a label.
set -euo pipefail
if [[ $# -lt 2 ]]; then
	echo "usage: $0 DIR NAME..." >&2
	exit 2
fi
dir=$1
shift
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
	-subj /CN=actorio-cluster-ca -keyout ca.key -out ca.crt 2>/dev/null
for n in "$@"; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=$n" -keyout "$n.key" -out "$n.csr" 2>/dev/null
	# Each node is a TLS server to some nodes and a client of others.
	printf 'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s\n' "$n" >"$n.ext"
	openssl x509 -req -in "$n.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
		-extfile "$n.ext" -out "$n.crt" 2>/dev/null
	rm "$n.csr" "$n.ext"
done
chmod 600 ./*.key
