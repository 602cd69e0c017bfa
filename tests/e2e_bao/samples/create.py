# "Create a new TOTP", Python tab of nitride-totp-api.md, body verbatim.
# Filled in: the base address before the path and the Authorization header
# (the e2e test fills in both placeholders). Added: the two prints.
import json
import requests

response = requests.put(
    "<address>/v1/auth/ratls/totp",
    headers={"Content-Type":"application/json", "Authorization":"Bearer <token>"},
    json={"created":0,"expiration":0,"policy":"text","uuid":"text"}
)
data = response.json()
print(json.dumps(data))
print(f"status: {response.status_code}")
