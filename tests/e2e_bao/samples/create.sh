#!/usr/bin/env bash
# "Create a new TOTP", cURL tab of nitride-totp-api.md, body verbatim.
# Filled in: the base address before the path and the Authorization header
# (the e2e test fills in both placeholders). Added to print the answer:
# -sS, and -w to print the status after the body.
curl -L \
  -X PUT \
  -H 'Content-Type: application/json' \
  -H 'Authorization: Bearer <token>' \
  '<address>/v1/auth/ratls/totp' \
  -d '{"created":0,"expiration":0,"policy":"text","uuid":"text"}' \
  -sS -w '\nstatus: %{http_code}\n'
