# "Deleting an existing TOTP", Python tab of nitride-totp-api.md, path verbatim.
# Filled in: the base address before the path and the Authorization header
# (the e2e test fills in both placeholders). Added: the two prints.
import json
import requests

response = requests.delete(
    "<address>/v1/auth/ratls/totp/{totp-uuid}",
    headers={"Authorization":"Bearer <token>"},
)
data = response.json()
print(json.dumps(data))
print(f"status: {response.status_code}")
