#!/usr/bin/env bash
# "Deleting an existing TOTP", cURL tab of nitride-totp-api.md, path verbatim.
# Filled in: the base address before the path and the Authorization header
# (the e2e test fills in both placeholders). Added to print the answer:
# -sS, and -w to print the status after the body.
# Also added: -g (--globoff). Without it curl reads the braces in the path as
# a glob set of one word and requests the path without them; with it the path is
# sent with its braces, as the Python and JavaScript samples send it.
curl -L \
  -X DELETE \
  -H 'Authorization: Bearer <token>' \
  '<address>/v1/auth/ratls/totp/{totp-uuid}' \
  -g -sS -w '\nstatus: %{http_code}\n'
