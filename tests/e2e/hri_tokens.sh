#!/usr/bin/env bash
# Bearer tokens the verifier once accepted and must not: no exp (good forever), iat in the
# future, and tokens whose base64url is not the one encoding of their bytes (padding, the
# standard alphabet's + and /, spare bits set) although correctly signed.
source "$(dirname "$0")/lib.sh"
: "${MEDFLOW_TOKEN:=$(dirname "$MEDFLOWD")/medflow-token}"
SECRET=e2e-secret
start_medflowd --set hri.auth.hs256_secret=$SECRET --set hri.auth.clock_skew_s=30

tok() { "$MEDFLOW_TOKEN" --secret "$SECRET" --sub reader --scope "tenant_t1 hri_consumer" "$@"; }
read_with() { http GET /hri/tenants/t1/batches "" -H "Authorization: Bearer $1"; }
accepted() {
  read_with "$1"
  [ "$STATUS" != 401 ] || fail "token refused: $BODY"
}
refused() {
  read_with "$1"
  expect_status 401
  expect_json .errorDescription "Authorization token validation failed: $2"
}

step "a well-formed token is accepted"
accepted "$(tok)"

step "exp is required, iat must not be in the future beyond hri.auth.clock_skew_s"
refused "$(tok --claim exp=null)" 'token has no expiry (claim "exp" is missing)'
now=$(date +%s)
accepted "$(tok --claim iat=$((now + 20)))"
refused "$(tok --claim iat=$((now + 600)))" "token is issued in the future"
refused "$(tok --claim nbf=$((now + 600)))" "token is not valid yet"
refused "$(tok --claim exp=$((now - 600)))" "token is expired"

step "base64url is strict: padding, + and /, spare bits are refused although the MAC matches"
good=$(tok)
refused "$good=" "malformed JWS signature: invalid base64url"
# A signature with '-' or '_' (three in four tokens have one): the same bytes in the standard
# alphabet.
for i in $(seq 20); do
  t=$(tok --claim "n=$i")
  sig=${t##*.}
  case "$sig" in *[-_]*) break ;; esac
done
case "$sig" in *[-_]*) ;; *) fail "no signature with - or _ in 20 tokens" ;; esac
refused "${t%.*}.$(printf '%s' "$sig" | tr -- '-_' '+/')" "malformed JWS signature: invalid base64url"
# The last of 43 characters carries 2 unused bits: set the lowest.
alphabet=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_
last=${good: -1}
prefix=${alphabet%%"$last"*}
idx=${#prefix}
[ $((idx % 4)) -eq 0 ] || fail "the last character of a 32-byte signature has spare bits set: $good"
refused "${good%?}${alphabet:$((idx + 1)):1}" "malformed JWS signature: invalid base64url"

step "a header nested deeper than json.max_depth is refused, naming the limit"
deep_header=$(printf '{"alg":"HS256","x":%s1%s}' "$(printf '%*s' 300 '' | tr ' ' '[')" \
  "$(printf '%*s' 300 '' | tr ' ' ']')" | base64 -w0 | tr '+/' '-_' | tr -d '=')
refused "$deep_header.${good#*.}" \
  "malformed JWS header: nesting deeper than 256 levels (json.max_depth) at line 1, column 275"
stop_medflowd
echo "ok"
